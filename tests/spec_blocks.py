"""Example config blocks taken verbatim from the spec, by architecture name."""
import re
from typing import Dict, List

from thinc.api import Config

_HEADING = re.compile(r"^### (\S+)")
_FENCE = re.compile(r"^>?\s*```(ini)?\s*$")


def spec_blocks(spec_text: str) -> Dict[str, str]:
    """Map each `### name` heading of the spec to the first ini example under it."""
    blocks: Dict[str, str] = {}
    current = None
    lines: List[str] = []
    inside = False
    for line in spec_text.splitlines():
        heading = _HEADING.match(line)
        if heading and not inside:
            current = heading.group(1)
            continue
        if current and _FENCE.match(line):
            if inside:
                blocks.setdefault(current, "\n".join(lines))
                lines = []
            inside = not inside
            continue
        if inside:
            lines.append(re.sub(r"^>\s?", "", line))
    return blocks


def block_config(text: str) -> Config:
    """Parse a spec block; `# ...` placeholder lines are dropped (callers fill those sections)."""
    kept = [line for line in text.splitlines() if line.strip() != "# ..."]
    return Config().from_str("\n".join(kept), interpolate=False)
