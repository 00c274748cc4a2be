"""Regenerate the code tables (the JSON files beside this module) from ``curated.py`` and pydicom's PS3.16.

``python -m bridge.extract.codes.generate`` rewrites body_part.json, anatomic_region.json, srt_to_sct.json
and modality.json (the DCM modality codes of CID 29, 32 and 33 with their meanings, for the manifests);
``--out-dir DIR`` writes them elsewhere and ``--check`` only reports whether the files on disk are current.
The output is deterministic: sorted keys, two-space indent, UTF-8, LF line ends.

Nothing is written, and every problem is listed (exit status 1), when: a curated SNOMED CT code is unknown
to pydicom (in CID 4031, in any other CID, or as a SNOMED concept) and has no NOT_IN_PYDICOM note; an Annex L
Code Meaning matches none of pydicom's meanings for its code and has no MEANING_NOTES entry; a note is no
longer needed; a code of pydicom's CID 4031 has no region; a CID4031_WITHOUT_TERM code is not in pydicom's
CID 4031; a legacy SRT code no longer maps to its curated SCT code; a term appears twice; or two rows give
one code different regions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

import pydicom
from pydicom.sr import _cid_dict, _concepts_dict, _snomed_dict

from bridge.extract.codes import ANATOMICAL_REGION_CODES, normalize_body_part
from bridge.extract.codes.curated import (
    ANNEX_L,
    CID4031_WITHOUT_TERM,
    LEGACY_CODES,
    LEGACY_TERMS,
    MEANING_NOTES,
    NOT_IN_PYDICOM,
    REGION_DISPLAYS,
    REGION_RULES,
    REGION_VALUE_SET,
    Concept,
    Legacy,
    Term,
)

BODY_PART_FILE: Final = "body_part.json"
ANATOMIC_REGION_FILE: Final = "anatomic_region.json"
SRT_FILE: Final = "srt_to_sct.json"
MODALITY_FILE: Final = "modality.json"
PACKAGE_DIR: Final = Path(__file__).resolve().parent

COMMON_ANATOMIC_REGIONS: Final = 4031  # CID 4031 Common Anatomic Regions
MODALITY_CIDS: Final = (29, 32, 33)  # Acquisition Modality, Modality, Modality (DICOM and IHE)
ANATOMIC_REGION: Final = 4  # CID 4 Anatomic Region, the catch-all anatomy context group

SOURCE_ANNEX_L: Final = "PS3.16 Annex L Table L-1"
SOURCE_PS3_3: Final = "PS3.3 Body Part Examined defined term of DICOM Supplement 32, not in Annex L"
SOURCE_CID4031: Final = "CID 4031 (pydicom)"
SOURCE_CID4031_2019: Final = "CID 4031 of PS3.16 2019a (SRT code, mapped to SCT by pydicom)"
SOURCE_REGION_VALUE_SET: Final = "HL7 Europe Imaging im-anatomical-region-valueset"

GENERATOR: Final = "python -m bridge.extract.codes.generate (curated tables: bridge/extract/codes/curated.py)"
EDITION: Final = (
    "Annex L rows as transcribed in highdicom 0.28.2 (highdicom/_standard/anatomic_regions.json, copied "
    "by the highdicom authors from the web edition of PS3.16 Annex L; their README names 2026a for the "
    "latest refresh); CID 4031, SNOMED CT concepts and the SRT -> SCT mapping as in pydicom "
    f"{pydicom.__version__}"
)


class GenerationError(Exception):
    """The curated tables disagree with pydicom; ``problems`` lists every disagreement."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "the anatomy tables were not written:\n" + "\n".join(f"  - {p}" for p in self.problems)
        )


@dataclass(frozen=True, slots=True)
class PydicomTables:
    """What pydicom knows about SNOMED CT (CIDs and meanings per code, CID 4031, SRT -> SCT) and the DCM
    modality codes."""

    version: str
    cids: Mapping[str, frozenset[int]]  # SCT code -> every CID listing it (empty: a concept in no CID)
    meanings: Mapping[str, frozenset[str]]  # SCT code -> every meaning pydicom gives it
    cid4031: Mapping[str, str]  # SCT code -> its CID 4031 Code Meaning
    srt_to_sct: Mapping[str, str]
    modalities: Mapping[str, str] = field(default_factory=dict)  # DCM code of CID 29/32/33 -> its meaning


@dataclass(frozen=True, slots=True)
class Curated:
    """The curated tables generate() works from; the defaults are those of curated.py."""

    annex_l: tuple[Term, ...] = ANNEX_L
    legacy_terms: tuple[Term, ...] = LEGACY_TERMS
    cid4031_without_term: tuple[Concept, ...] = CID4031_WITHOUT_TERM
    legacy_codes: tuple[Legacy, ...] = LEGACY_CODES
    not_in_pydicom: Mapping[str, str] = field(default_factory=lambda: dict(NOT_IN_PYDICOM))
    meaning_notes: Mapping[str, str] = field(default_factory=lambda: dict(MEANING_NOTES))
    region_displays: Mapping[str, str] = field(default_factory=lambda: dict(REGION_DISPLAYS))


def load_pydicom() -> PydicomTables:
    """pydicom's SNOMED CT concepts, CID 4031 and SRT mapping, indexed by code."""
    # pydicom's generated concepts dictionary infers as dict[str, object]; its shape is documented at its top
    concepts = cast(dict[str, dict[str, tuple[str, list[int]]]], _concepts_dict.concepts["SCT"])
    cid4031_keywords = _cid_dict.cid_concepts[COMMON_ANATOMIC_REGIONS]["SCT"]
    srt_to_sct = _snomed_dict.mapping["SRT"]
    cids: dict[str, set[int]] = {}
    meanings: dict[str, set[str]] = {}
    for by_code in concepts.values():
        for code, (meaning, cid_list) in by_code.items():
            cids.setdefault(code, set()).update(cid_list)
            meanings.setdefault(code, set()).add(meaning)
    cid4031: dict[str, str] = {}
    for keyword in cid4031_keywords:
        for code, (meaning, cid_list) in concepts[keyword].items():
            if COMMON_ANATOMIC_REGIONS in cid_list:
                cid4031[code] = meaning
    modalities: dict[str, str] = {}
    dcm = cast(dict[str, dict[str, tuple[str, list[int]]]], _concepts_dict.concepts["DCM"])
    for by_code in dcm.values():
        for code, (meaning, cid_list) in by_code.items():
            if set(MODALITY_CIDS) & set(cid_list):
                modalities.setdefault(code, meaning)
    return PydicomTables(
        version=pydicom.__version__,
        cids={code: frozenset(found) for code, found in cids.items()},
        meanings={code: frozenset(found) for code, found in meanings.items()},
        cid4031=cid4031,
        srt_to_sct=dict(srt_to_sct),
        modalities=dict(sorted(modalities.items())),
    )


def verification(code: str, tables: PydicomTables) -> str:
    """Where pydicom lists ``code``: CID 4031, else CID 4, else its lowest CID, else its concept table."""
    cids = tables.cids.get(code)
    if cids is None:
        return "not in pydicom"
    if COMMON_ANATOMIC_REGIONS in cids:
        return f"CID {COMMON_ANATOMIC_REGIONS}"
    if ANATOMIC_REGION in cids:
        return f"CID {ANATOMIC_REGION}"
    if cids:
        return f"CID {min(cids)}"
    return "pydicom SCT concept, in no CID"


def _comparable(meaning: str) -> str:
    return re.sub(r"[^0-9a-z]", "", meaning.lower())


def _names_an_approach(term: Term) -> bool:
    # "Endo-renal" and the like name an approach, not the structure; another row's meaning reads better
    return term.meaning.startswith("Endo-")


def _check_terms(curated: Curated, tables: PydicomTables, problems: list[str]) -> None:
    seen: dict[str, str] = {}
    used_notes: set[str] = set()
    for row in curated.annex_l + curated.legacy_terms:
        key = normalize_body_part(row.term)
        if key != row.term:
            problems.append(f"{row.term}: a term must be written as it is looked up ({key!r})")
        if key in seen:
            problems.append(f"{row.term}: listed twice")
        seen[key] = row.term
        _check_regions(row.term, row.regions, curated, problems)
        meanings = tables.meanings.get(row.code)
        if meanings is None:
            if row.code not in curated.not_in_pydicom:
                problems.append(
                    f"{row.term}: SNOMED CT {row.code} is in neither pydicom's CID 4031 nor any other CID or "
                    "concept table; fix the code or explain it in NOT_IN_PYDICOM"
                )
            continue
        matches = _comparable(row.meaning) in {_comparable(m) for m in meanings}
        if row.term in curated.meaning_notes:
            used_notes.add(row.term)
            if matches:
                problems.append(f"{row.term}: MEANING_NOTES entry is no longer needed")
        elif not matches:
            problems.append(
                f"{row.term}: Code Meaning {row.meaning!r} matches none of pydicom's meanings for {row.code} "
                f"({sorted(meanings)}); fix the row or explain it in MEANING_NOTES"
            )
    for term in sorted(set(curated.meaning_notes) - used_notes):
        problems.append(f"MEANING_NOTES[{term!r}] names no row whose code pydicom knows")


def _check_regions(name: str, regions: Sequence[str], curated: Curated, problems: list[str]) -> None:
    unknown = [code for code in regions if code not in curated.region_displays]
    if unknown:
        problems.append(f"{name}: {unknown} are not anatomical-region codes")
    if len(set(regions)) != len(regions):
        problems.append(f"{name}: a region is listed twice")


def _check_not_in_pydicom(curated: Curated, tables: PydicomTables, problems: list[str]) -> None:
    curated_codes = {row.code for row in curated.annex_l + curated.legacy_terms} | set(
        curated.region_displays
    )
    for code in sorted(curated.not_in_pydicom):
        if code in tables.cids:
            problems.append(f"NOT_IN_PYDICOM[{code!r}]: pydicom now knows this code; drop the note")
        elif code not in curated_codes:
            problems.append(f"NOT_IN_PYDICOM[{code!r}]: no curated row uses this code")
    for code in sorted(curated.region_displays):
        if code not in tables.cids and code not in curated.not_in_pydicom:
            problems.append(f"region {code} is not in pydicom; explain it in NOT_IN_PYDICOM")


def _check_cid4031(curated: Curated, tables: PydicomTables, problems: list[str]) -> None:
    term_codes = {row.code for row in curated.annex_l + curated.legacy_terms}
    for concept in curated.cid4031_without_term:
        _check_regions(concept.code, concept.regions, curated, problems)
        if concept.code not in tables.cid4031:
            problems.append(f"CID4031_WITHOUT_TERM {concept.code}: not in pydicom's CID 4031")
        if concept.code in term_codes:
            problems.append(f"CID4031_WITHOUT_TERM {concept.code}: an Annex L row already carries it")
    decided = term_codes | {concept.code for concept in curated.cid4031_without_term}
    for code, meaning in sorted(tables.cid4031.items()):
        if code not in decided:
            problems.append(f"CID 4031 {code} ({meaning}) has no region: add it to CID4031_WITHOUT_TERM")


def _check_legacy(curated: Curated, tables: PydicomTables, problems: list[str]) -> None:
    current = {row.code for row in curated.annex_l} | set(tables.cid4031)
    for row in curated.legacy_codes:
        _check_regions(row.srt, row.regions, curated, problems)
        mapped = tables.srt_to_sct.get(row.srt)
        if mapped != row.code:
            problems.append(f"LEGACY_CODES {row.srt}: pydicom maps it to {mapped}, not {row.code}")
        if row.code in current:
            problems.append(f"LEGACY_CODES {row.srt}: {row.code} is a current code; the row is not needed")


def _region_of_each_code(
    curated: Curated, tables: PydicomTables, problems: list[str]
) -> dict[str, tuple[str, ...]]:
    regions: dict[str, tuple[str, ...]] = {code: (code,) for code in curated.region_displays}
    named: dict[str, str] = {code: "the region value set" for code in curated.region_displays}
    rows: list[tuple[str, str, tuple[str, ...]]] = [(t.term, t.code, t.regions) for t in curated.annex_l]
    rows += [(t.term, t.code, t.regions) for t in curated.legacy_terms]
    rows += [(c.code, c.code, c.regions) for c in curated.cid4031_without_term]
    rows += [(legacy.srt, legacy.code, legacy.regions) for legacy in curated.legacy_codes]
    for name, code, found in rows:
        if code in regions and regions[code] != found:
            problems.append(
                f"{name}: {code} rolls up to {list(found)} here but to {list(regions[code])} in {named[code]}"
            )
            continue
        regions[code] = found
        named.setdefault(code, name)
    return regions


def _region_fields(regions: Sequence[str]) -> dict[str, object]:
    return {"region": regions[0] if len(regions) == 1 else None, "regions": list(regions)}


def _header(title: str, tables: PydicomTables, **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "generator": GENERATOR,
        "pydicom": tables.version,
        **extra,
    }


def _body_part_table(curated: Curated, tables: PydicomTables) -> dict[str, object]:
    terms: dict[str, object] = {}
    for source, rows in ((SOURCE_ANNEX_L, curated.annex_l), (SOURCE_PS3_3, curated.legacy_terms)):
        for row in rows:
            entry: dict[str, object] = {
                "snomed": row.code,
                "display": row.meaning,
                **_region_fields(row.regions),
                "source": source,
                "verified": verification(row.code, tables),
            }
            note = curated.meaning_notes.get(row.term) or curated.not_in_pydicom.get(row.code)
            if note:
                entry["note"] = note
            terms[row.term] = entry
    header = _header(
        "DICOM Body Part Examined (0018,0015) defined terms -> SNOMED CT and HL7 Europe Imaging "
        "anatomical region",
        tables,
        standard="DICOM PS3.16 Annex L Table L-1 'Correspondence of Anatomic Region Codes and Body Part "
        "Examined Defined Terms'; CID 4031 'Common Anatomic Regions'",
        edition=EDITION,
        method=(
            "Rows (term, SNOMED CT code, Code Meaning) are curated in bridge/extract/codes/curated.py. "
            "The generator checks every code against pydicom (CID 4031, else any other CID, else pydicom's "
            "SNOMED concept table) and every Code Meaning against pydicom's meanings for that code, and "
            "stops on any disagreement that a note does not explain. ARM and LEG, terms of the original "
            "PS3.3 list that Annex L does not carry, are added. Regions were assigned by hand under "
            "region_rules."
        ),
        lookup="terms are matched after upper-casing and removing spaces, hyphens and underscores",
        region_value_set=REGION_VALUE_SET,
        region_rules=list(REGION_RULES),
        fields={
            "snomed": "SNOMED CT concept id (Annex L Code Value, Coding Scheme Designator SCT)",
            "display": "the Annex L Code Meaning",
            "region": "the one anatomical-region code the term rolls up to; null for none or several",
            "regions": "every anatomical-region code the term spans (display in anatomic_region.json)",
            "source": "where the row comes from",
            "verified": "where pydicom lists the code: 'CID 4031', 'CID 4' (Anatomic Region), 'CID n' "
            "(its lowest CID), 'pydicom SCT concept, in no CID', or 'not in pydicom'",
            "note": "why a code or meaning differs from what pydicom lists",
        },
        term_count=len(terms),
    )
    return {"header": header, "terms": terms}


def _anatomic_region_table(
    curated: Curated, tables: PydicomTables, regions: Mapping[str, tuple[str, ...]]
) -> dict[str, object]:
    sources: dict[str, set[str]] = {code: set() for code in regions}
    terms: dict[str, list[str]] = {}
    displays: dict[str, str] = {}
    for row in sorted(curated.annex_l, key=_names_an_approach):
        sources[row.code].add(SOURCE_ANNEX_L)
        terms.setdefault(row.code, []).append(row.term)
        displays.setdefault(row.code, row.meaning)
    for row in curated.legacy_terms:
        sources[row.code].add(SOURCE_PS3_3)
        terms.setdefault(row.code, []).append(row.term)
    for code in regions:
        if code in tables.cid4031:
            sources[code].add(SOURCE_CID4031)
            displays[code] = tables.cid4031[code]
    for legacy in curated.legacy_codes:
        sources[legacy.code].add(SOURCE_CID4031_2019)
        displays.setdefault(legacy.code, legacy.meaning)
    for code, display in curated.region_displays.items():
        sources[code].add(SOURCE_REGION_VALUE_SET)
        displays.setdefault(code, display)
    srt_codes: dict[str, list[str]] = {}
    for srt, sct in sorted(tables.srt_to_sct.items()):
        if sct in regions:
            srt_codes.setdefault(sct, []).append(srt)
    codes: dict[str, object] = {}
    for code, found in regions.items():
        entry: dict[str, object] = {
            "display": displays[code],
            **_region_fields(found),
            "sources": sorted(sources[code]),
            "verified": verification(code, tables),
        }
        if code in terms:
            entry["body_part_terms"] = sorted(terms[code])
        if code in srt_codes:
            entry["srt"] = srt_codes[code]
        if code in curated.not_in_pydicom:
            entry["note"] = curated.not_in_pydicom[code]
        codes[code] = entry
    header = _header(
        "SNOMED CT anatomic region code -> HL7 Europe Imaging anatomical region",
        tables,
        standard="DICOM PS3.16 CID 4031 'Common Anatomic Regions' and Annex L Table L-1; HL7 Europe "
        "Imaging Report R5 im-anatomical-region-valueset",
        edition=EDITION,
        method=(
            "Every SNOMED CT code of pydicom's CID 4031, every code of body_part.json, the SCT codes "
            "pydicom maps the SRT codes of the 2019a CID 4031 to, and the ten region codes themselves. A "
            "code's regions are those of its Body Part Examined row, else curated in CID4031_WITHOUT_TERM "
            "or LEGACY_CODES; the generator stops if two rows disagree or a CID 4031 code has no region."
        ),
        region_value_set=REGION_VALUE_SET,
        region_rules=list(REGION_RULES),
        fields={
            "regions (top level)": "the ten codes of the value set and their SNOMED CT displays",
            "display": "the CID 4031 Code Meaning, else the Annex L one, else the 2019a one",
            "region": "the one anatomical-region code the concept rolls up to; null for none or several",
            "regions": "every anatomical-region code the concept spans",
            "sources": "the tables the code comes from",
            "verified": "where pydicom lists the code (see body_part.json)",
            "body_part_terms": "the Body Part Examined terms that carry this code",
            "srt": "SRT codes that pydicom maps to this code",
            "note": "why pydicom does not know the code",
        },
        code_count=len(codes),
    )
    region_table = {code: curated.region_displays[code] for code in sorted(curated.region_displays)}
    return {"header": header, "regions": region_table, "codes": codes}


def _srt_table(tables: PydicomTables) -> dict[str, object]:
    header = _header(
        "SNOMED-RT (SRT) code -> SNOMED CT concept id",
        tables,
        standard="DICOM PS3.16 mapping of SNOMED-RT identifiers to SNOMED CT concept ids",
        edition=f"pydicom {tables.version}, pydicom.sr._snomed_dict.mapping['SRT'], copied whole",
        code_count=len(tables.srt_to_sct),
    )
    return {"header": header, "srt_to_sct": dict(tables.srt_to_sct)}


def _modality_table(tables: PydicomTables) -> dict[str, object]:
    header = _header(
        "DICOM modality (DCM code) -> Code Meaning",
        tables,
        standard="DICOM PS3.16 CID 29 Acquisition Modality, CID 32 Modality, CID 33 Modality",
        edition=f"pydicom {tables.version}, pydicom.sr._concepts_dict.concepts['DCM'], codes listed in CID 29, "
        "32 or 33 (the first meaning pydicom gives a code)",
        code_count=len(tables.modalities),
    )
    return {"header": header, "modalities": dict(tables.modalities)}


def generate(curated: Curated | None = None, tables: PydicomTables | None = None) -> dict[str, bytes]:
    """The content of each JSON file, by file name.

    Raises:
        GenerationError: the curated tables disagree with pydicom (see the module docstring).
    """
    curated = curated or Curated()
    tables = tables or load_pydicom()
    problems: list[str] = []
    if set(curated.region_displays) != ANATOMICAL_REGION_CODES:
        problems.append(
            "REGION_DISPLAYS and bridge.extract.codes.ANATOMICAL_REGION_CODES name different codes"
        )
    _check_terms(curated, tables, problems)
    _check_not_in_pydicom(curated, tables, problems)
    _check_cid4031(curated, tables, problems)
    _check_legacy(curated, tables, problems)
    regions = _region_of_each_code(curated, tables, problems)
    if problems:
        raise GenerationError(problems)
    return {
        BODY_PART_FILE: _render(_body_part_table(curated, tables)),
        ANATOMIC_REGION_FILE: _render(_anatomic_region_table(curated, tables, regions)),
        SRT_FILE: _render(_srt_table(tables)),
        MODALITY_FILE: _render(_modality_table(tables)),
    }


def _render(table: Mapping[str, object]) -> bytes:
    return (json.dumps(table, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write(out_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into ``out_dir``, creating it if needed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out_dir / name).write_bytes(content)


def stale(out_dir: Path, files: Mapping[str, bytes]) -> list[str]:
    """The names of ``files`` whose copy in ``out_dir`` is missing or different."""
    return [name for name, content in files.items() if _read(out_dir / name) != content]


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def main(argv: Iterable[str] | None = None) -> int:
    """Command line: regenerate (or ``--check``) the tables; 0 on success, 1 on problems or stale files."""
    parser = argparse.ArgumentParser(
        prog="python -m bridge.extract.codes.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out-dir", type=Path, default=PACKAGE_DIR, help="where to write (default: the package)"
    )
    parser.add_argument("--check", action="store_true", help="only report files that differ from a fresh run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        files = generate()
    except GenerationError as error:
        print(error, file=sys.stderr)
        return 1
    if args.check:
        outdated = stale(args.out_dir, files)
        for name in outdated:
            print(
                f"{args.out_dir / name} is out of date; run python -m bridge.extract.codes.generate",
                file=sys.stderr,
            )
        return 1 if outdated else 0
    write(args.out_dir, files)
    for name in files:
        print(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
