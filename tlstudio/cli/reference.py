"""The README's table of project flags, made from the settings declarations as `tlstudio train --help` is, so
the two cannot disagree: `python -m tlstudio.cli.reference` prints it, and a test checks the README holds
exactly that."""

from __future__ import annotations

from tlstudio.cli.options import FLAG_SPECS, GROUP_TITLES, flag_help

BEGIN = "<!-- flags: made by `python -m tlstudio.cli.reference`; edit the settings declarations, not this table -->"
END = "<!-- end of flags -->"


def flags_markdown() -> str:
    """One row per project flag, grouped as `tlstudio train --help` groups them: flag, field, what it sets."""
    rows = ["| flag | project field | what it sets |", "|---|---|---|"]
    for group, title in GROUP_TITLES.items():
        specs = [spec for spec in FLAG_SPECS.values() if (spec.setting.group or spec.section) == group]
        if specs or group == "augment":
            rows.append(f"| **{title}** | | |")
        if group == "augment":
            rows.append("| `--augment NAMES` | `augment.*` | comma list of augmentations switched on at their usual "
                        "strength, or `none` |")
        for spec in specs:
            flag = spec.flag + (f" {spec.setting.metavar}" if spec.setting.metavar else "")
            text = flag_help(spec).replace("%%", "%")
            if spec.choices and not spec.setting.metavar:
                text += f"; one of: {', '.join(spec.choices)}"
            text = text.replace("|", "\\|")  # a bar inside a cell would end it
            rows.append(f"| `{flag}` | `{spec.key}` | {text} |")
    return "\n".join([BEGIN, *rows, END])


if __name__ == "__main__":  # pragma: no cover
    print(flags_markdown())
