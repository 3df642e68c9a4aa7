"""English tokenization rules, written to UD English's conventions (as in English-EWT):
clitics split ("do n't", "I 'm", informal "do nt"), hyphenated compounds split except after a
bound prefix ("e-mail", "non-profit", "mid-1980s"), units split from numbers ("35 mm", "11 AM")
but not ordinals or decades ("23rd", "90s"), runs of end punctuation kept together ("!!", "?!",
"...."), emoticons, URLs, e-mail addresses, hashtags and abbreviations ("Dr.", "U.S.") whole.

They are plain data (strings and lists), so a model saves them with its tokenizer and a user can
edit them there; archcli/tokens/tokenizer.py interprets them.
"""
from typing import Any, Dict, List

# Contractions written without an apostrophe, and other fused forms UD splits.
_FUSED = {
    "cannot": ["can", "not"], "gonna": ["gon", "na"], "wanna": ["wan", "na"], "gotta": ["got", "ta"],
    "outta": ["out", "ta"], "alot": ["a", "lot"], "dont": ["do", "nt"], "cant": ["ca", "nt"],
    "wont": ["wo", "nt"], "didnt": ["did", "nt"], "doesnt": ["does", "nt"], "isnt": ["is", "nt"],
    "wasnt": ["was", "nt"], "arent": ["are", "nt"], "werent": ["were", "nt"], "havent": ["have", "nt"],
    "hasnt": ["has", "nt"], "hadnt": ["had", "nt"], "couldnt": ["could", "nt"], "shouldnt": ["should", "nt"],
    "wouldnt": ["would", "nt"], "aint": ["ai", "nt"], "im": ["i", "m"], "ive": ["i", "ve"],
    "youre": ["you", "re"], "theyre": ["they", "re"], "thats": ["that", "s"], "whats": ["what", "s"],
    "hes": ["he", "s"], "shes": ["she", "s"], "theres": ["there", "s"], "youve": ["you", "ve"],
    "theyve": ["they", "ve"], "wouldve": ["would", "ve"], "couldve": ["could", "ve"],
    "shouldve": ["should", "ve"], "sorta": ["sort", "a"], "dunno": ["du", "n", "no"],
    "gimme": ["gim", "me"], "lemme": ["lem", "me"], "i'ma": ["i", "'m", "a"], "ain't": ["ai", "n't"],
    "can't": ["ca", "n't"], "won't": ["wo", "n't"], "shan't": ["sha", "n't"], "y'all": ["y'", "all"],
}

# Emoticons kept whole, also when attached to a word ("great:)").
EMOTICONS = [":)", ":-)", ":(", ":-(", ";)", ";-)", ":D", ":-D", ":P", ":-P", ":p", ":-p", ";P", ";p", "=)",
             "=(", ":/", ":-/", ":O", ":o", ":'(", ":|", ":-|", "<3", "</3", "XD", "xD", "^_^", "^^", "-_-",
             "o_O", "O_o", ":]", ":[", ";D", "8)", "B)", ":*", ":-*", ":S", ":s", ":$"]

# Abbreviations whose period belongs to them (besides initials "W." and dotted "U.S.", "p.m.").
ABBREVIATIONS = [
    "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "St.", "Sr.", "Jr.", "Inc.", "Co.", "Corp.", "Ltd.", "Bros.", "vs.",
    "etc.", "No.", "Nos.", "Gen.", "Gov.", "Lt.", "Col.", "Capt.", "Cpt.", "Sgt.", "Rev.", "Hon.", "Rep.",
    "Reps.", "Sen.", "Ft.", "Mt.", "Ave.", "Blvd.", "Rd.", "Jan.", "Feb.", "Mar.", "Apr.", "Jun.", "Jul.",
    "Aug.", "Sep.", "Sept.", "Oct.", "Nov.", "Dec.", "Mon.", "Tue.", "Tues.", "Wed.", "Thu.", "Thur.",
    "Thurs.", "Fri.", "Sat.", "Sun.", "approx.", "dept.", "Dept.", "est.", "fig.", "Fig.", "min.", "max.",
    "misc.", "ext.", "Ext.", "vol.", "Vol.", "pp.", "eg.", "ie.", "cf.", "al.", "Attn.", "attn.", "Arrv.",
    "arrv.", "lb.", "lbs.", "oz.", "Ph.", "Fax.", "Mob.", "Tel.", "tel.", "Para.", "Spec.", "Assn.", "Univ.",
    "Mass.", "Calif.", "Fla.", "Tex.", "Penn.", "Wash.", "Conn.", "Ariz.", "Colo.", "Ill.", "Mich.", "Minn.",
    "La.", "Va.", "Ga.", "Ala.", "Ky.", "Md.", "Mo.", "Okla.", "Ore.", "Tenn.", "Wis.", "Nev.", "approx.",
    "o.k.", "a.k.a.", "Mrs", "viz.", "Messrs.", "Esq.", "Sq.", "Pl.", "Ct.", "Hwy.", "Intl.", "Natl.",
]

# A hyphen right after one of these stays inside the word ("e-mail", "non-profit", "mid-1980s").
BOUND_PREFIXES = [
    "e", "non", "pre", "anti", "mid", "re", "post", "co", "over", "pro", "multi", "ex", "sub", "semi",
    "cross", "neo", "psycho", "socio", "counter", "intra", "vice", "micro", "un", "inter", "ultra", "bi",
    "tri", "de", "mis", "macro", "mini", "hyper", "pseudo", "quasi", "trans",
]

# Units split off a number they follow ("35mm" -> "35 mm", "7:30PM" -> "7:30 PM").
UNITS = [
    "am", "pm", "a.m.", "p.m.", "k", "m", "mm", "cm", "km", "kg", "g", "mg", "lb", "lbs", "oz", "ft", "mph",
    "kph", "ml", "l", "gb", "mb", "kb", "tb", "hz", "khz", "mhz", "ghz", "w", "kw", "mw", "watt", "watts", "v",
    "min", "mins", "hr", "hrs", "h", "sec", "secs", "yr", "yrs", "f", "c", "p", "x", "gal", "mi", "bn", "mln",
]


def english_rules() -> Dict[str, Any]:
    """The rules `spacy.Tokenizer.v1` builds for English, as JSON-able data."""
    exceptions: Dict[str, List[str]] = {}
    for word, pieces in _FUSED.items():
        for form, parts in ((word, pieces), (word.capitalize(), [pieces[0].capitalize()] + pieces[1:]),
                            (word.upper(), [p.upper() for p in pieces])):
            exceptions[form] = parts
            exceptions[form.replace("'", "\u2019")] = [p.replace("'", "\u2019") for p in parts]
    exceptions["I'ma"] = ["I", "'m", "a"]
    for emoticon in EMOTICONS:
        exceptions[emoticon] = [emoticon]
    return {
        "version": 1,
        "exceptions": exceptions,
        "abbreviations": ABBREVIATIONS,
        "bound_prefixes": BOUND_PREFIXES,
        "units": UNITS,
        "emoticons": EMOTICONS,
        # Opening characters split off the front of a chunk (a run of the same one counts once).
        "prefix_chars": "([{\"“‘«'`¿¡<>*=~#$£€¥-",
        # Closing characters split off the end, one each (runs of "!?." and repeated <>*=~- stay together).
        "suffix_chars": ")]}\"”’»'`,;:%…+",
        # Split inside a chunk, on both sides of the character.
        "infix_chars": "()[]{}\"“”,;!?…",
        "clitics": ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m", "`s", "n’t", "’s", "’re", "’ve", "’ll", "’d", "’m"],
        "split_final_abbreviation_period": True,
    }
