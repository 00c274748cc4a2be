"""Anatomy code tables: Annex L Body Part Examined terms and CID 4031 codes -> SNOMED CT and regions."""

from __future__ import annotations

import ast
import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pytest
from pydicom.sr import _cid_dict, _concepts_dict

from bridge.extract.codes import (
    ANATOMICAL_REGION_CODES,
    SNOMED_SYSTEM,
    BodyPartCode,
    anatomic_region_for,
    anatomic_regions_for,
    body_part_code,
    modality_meaning,
    normalize_body_part,
    snomed_from_dicom,
)
from bridge.extract.codes import generate as generator
from bridge.extract.codes.curated import ANNEX_L, CID4031_WITHOUT_TERM, LEGACY_CODES, Concept, Legacy, Term
from bridge.model.common import Code

PACKAGE = resources.files("bridge.extract.codes")
TABLES = (generator.BODY_PART_FILE, generator.ANATOMIC_REGION_FILE, generator.SRT_FILE, generator.MODALITY_FILE)

# the guide's ten anatomical regions (im-anatomical-region-valueset)
LOWER_TRUNK = "63337009"
WHOLE_BODY = "38266002"
UPPER_LIMB = "53120007"
LOWER_LIMB = "61685007"
UPPER_TRUNK = "67734004"
HEAD_NECK = "774007"
CARDIOVASCULAR = "113257007"
HEART = "80891009"
BREAST = "76752008"
SPINE = "737561001"


def table(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath(name).read_text(encoding="utf-8"))
    return data


def pydicom_sct() -> tuple[dict[str, set[int]], set[str]]:
    """Every SCT code pydicom knows with the CIDs listing it, and the SCT codes of its CID 4031."""
    concepts = cast(dict[str, dict[str, tuple[str, list[int]]]], _concepts_dict.concepts["SCT"])
    cids: dict[str, set[int]] = {}
    for by_code in concepts.values():
        for code, (_meaning, cid_list) in by_code.items():
            cids.setdefault(code, set()).update(cid_list)
    cid4031 = {
        code
        for keyword in _cid_dict.cid_concepts[4031]["SCT"]
        for code, (_meaning, cid_list) in concepts[keyword].items()
        if 4031 in cid_list
    }
    return cids, cid4031


def with_term(term: str, code: str, meaning: str, regions: tuple[str, ...]) -> generator.Curated:
    """The curated tables with one more Annex L row."""
    return generator.Curated(annex_l=(*ANNEX_L, Term(term, code, meaning, regions)))


# Body Part Examined term -> (SNOMED CT code per PS3.16 Annex L, the one region or None)
@pytest.mark.parametrize(
    ("term", "snomed", "region"),
    [
        ("CHEST", "816094009", UPPER_TRUNK),  # Annex L: Chest (51185008 Thorax was the SRT T-D3000 era code)
        ("THORAX", "816094009", UPPER_TRUNK),
        ("HEAD", "69536005", HEAD_NECK),
        ("ABDOMEN", "818981001", LOWER_TRUNK),
        ("PELVIS", "816092008", LOWER_TRUNK),
        ("ABDOMENPELVIS", "818982008", LOWER_TRUNK),
        ("KNEE", "72696002", LOWER_LIMB),
        ("BREAST", "76752008", BREAST),
        ("HEART", "80891009", HEART),
        ("CSPINE", "122494005", SPINE),
        ("TSPINE", "122495006", SPINE),
        ("LSPINE", "122496007", SPINE),
        ("SSPINE", "54735007", SPINE),
        ("SPINE", "421060004", SPINE),
        ("WHOLEBODY", "38266002", WHOLE_BODY),
        ("NECK", "45048000", HEAD_NECK),
        ("HEADNECK", "774007", HEAD_NECK),
        ("BRAIN", "12738006", HEAD_NECK),
        ("SKULL", "89546000", HEAD_NECK),
        ("SHOULDER", "16982005", UPPER_LIMB),
        ("ELBOW", "16953009", UPPER_LIMB),
        ("WRIST", "74670003", UPPER_LIMB),
        ("HAND", "85562004", UPPER_LIMB),
        ("HIP", "24136001", LOWER_LIMB),
        ("ANKLE", "70258002", LOWER_LIMB),
        ("FOOT", "56459004", LOWER_LIMB),
        ("LIVER", "10200004", LOWER_TRUNK),
        ("KIDNEY", "64033007", LOWER_TRUNK),
        ("LUNG", "39607008", UPPER_TRUNK),
        ("AORTA", "15825003", CARDIOVASCULAR),
        ("CAROTID", "69105007", CARDIOVASCULAR),
        ("CORONARYARTERY", "41801008", HEART),
        ("CARDIOVASCSYS", "113257007", CARDIOVASCULAR),
        ("ARM", "53120007", UPPER_LIMB),  # original PS3.3 term, not in Annex L
        ("LEG", "61685007", LOWER_LIMB),  # original PS3.3 term, not in Annex L
        ("EXTREMITY", "66019005", None),  # upper or lower: no single region
        ("CHESTABDOMEN", "416550000", None),  # spans two regions
    ],
)
def test_body_part_term_maps_to_annex_l_code_and_region(term: str, snomed: str, region: str | None) -> None:
    mapped = body_part_code(term)
    assert mapped is not None
    assert mapped.term == term
    assert mapped.snomed.system == SNOMED_SYSTEM
    assert mapped.snomed.code == snomed
    assert mapped.snomed.display
    assert (mapped.region.code if mapped.region else None) == region


def test_display_is_the_annex_l_code_meaning() -> None:
    assert body_part_code("CHEST") == BodyPartCode(
        term="CHEST",
        snomed=Code(SNOMED_SYSTEM, "816094009", "Chest"),
        region=Code(SNOMED_SYSTEM, UPPER_TRUNK, "Upper trunk structure"),
        regions=(Code(SNOMED_SYSTEM, UPPER_TRUNK, "Upper trunk structure"),),
    )


@pytest.mark.parametrize(
    ("term", "regions"),
    [
        ("CHESTABDOMEN", (UPPER_TRUNK, LOWER_TRUNK)),
        ("CHESTABDPELVIS", (UPPER_TRUNK, LOWER_TRUNK)),
        ("NECKCHEST", (HEAD_NECK, UPPER_TRUNK)),
        ("NECKCHESTABDPELV", (HEAD_NECK, UPPER_TRUNK, LOWER_TRUNK)),
        ("PELVISLOWEXTREMT", (LOWER_TRUNK, LOWER_LIMB)),
        ("PHANTOM", ()),
        ("JOINT", ()),
    ],
)
def test_term_spanning_regions_lists_each_and_has_no_single_region(
    term: str, regions: tuple[str, ...]
) -> None:
    mapped = body_part_code(term)
    assert mapped is not None
    assert tuple(code.code for code in mapped.regions) == regions
    assert mapped.region is None


@pytest.mark.parametrize("term", ["", "   ", "NOTAPART", "CHEST2", "UPPER-ARM-LEFT", "T-D3000"])
def test_unknown_term_is_none(term: str) -> None:
    assert body_part_code(term) is None


@pytest.mark.parametrize(
    ("raw", "term"),
    [
        ("Chest", "CHEST"),
        ("CHEST ", "CHEST"),
        (" chest\t", "CHEST"),
        ("ABDOMEN_PELVIS", "ABDOMENPELVIS"),
        ("abdomen-pelvis", "ABDOMENPELVIS"),
        ("Abdomen Pelvis", "ABDOMENPELVIS"),
        ("C-SPINE", "CSPINE"),
        ("whole body", "WHOLEBODY"),
        ("Head_Neck", "HEADNECK"),
    ],
)
def test_term_is_normalised_before_lookup(raw: str, term: str) -> None:
    assert normalize_body_part(raw) == term
    mapped = body_part_code(raw)
    assert mapped is not None
    assert mapped.term == term


@pytest.mark.parametrize(
    ("code", "scheme", "sct"),
    [
        ("T-D3000", "SRT", "51185008"),  # Chest in CID 4031 up to 2019
        ("T-D4000", "SRT", "113345001"),
        ("T-11503", "SRT", "122496007"),  # Lumbar spine
        (" t-d1100 ", " srt", "69536005"),  # Head, tolerant of case and padding
        ("T-32000", "SNM3", "80891009"),  # SNOMED 3 shares the SNOMED-RT code space
        ("T-D1100", "99SDM", "69536005"),
        ("816094009", "SCT", "816094009"),
        (" 816094009 ", "SCT", "816094009"),
        ("T-D3000", "SCT", None),  # an SRT code mislabelled SCT is not an SCTID
        ("12345", "SCT", None),  # too short for an SCTID
        ("816094009", "LN", None),
        ("816094009", "", None),
        ("X-NOPE1", "SRT", None),
    ],
)
def test_snomed_from_dicom(code: str, scheme: str, sct: str | None) -> None:
    assert snomed_from_dicom(code, scheme) == sct


@pytest.mark.parametrize(
    ("code", "scheme", "region"),
    [
        ("816094009", "SCT", UPPER_TRUNK),
        ("T-D3000", "SRT", UPPER_TRUNK),  # legacy SRT Chest -> 51185008 -> upper trunk
        ("51185008", "SCT", UPPER_TRUNK),
        ("T-D4000", "SRT", LOWER_TRUNK),
        ("T-D6000", "SRT", LOWER_TRUNK),
        ("T-11503", "SRT", SPINE),
        ("T-D00F9", "SRT", SPINE),  # Lumbo-sacral spine, 2019a code 297173004
        ("29836001", "SCT", LOWER_LIMB),  # Hip region: CID 4031, no Body Part Examined term
        ("110639002", "SCT", LOWER_TRUNK),  # Uterus and fallopian tubes: CID 4031 only
        ("737561001", "SCT", SPINE),  # the region codes roll up to themselves
        ("63337009", "SCT", LOWER_TRUNK),
        ("76752008", "SCT", BREAST),
        ("15825003", "SCT", CARDIOVASCULAR),
        ("416550000", "SCT", None),  # Chest and Abdomen spans two regions
        ("66019005", "SCT", None),  # Extremity
        ("999999999", "SCT", None),
        ("816094009", "DCM", None),
    ],
)
def test_anatomic_region_for(code: str, scheme: str, region: str | None) -> None:
    found = anatomic_region_for(code, scheme)
    assert (found.code if found else None) == region
    if found is not None:
        assert found.system == SNOMED_SYSTEM
        assert found.display


def test_anatomic_regions_for_lists_every_spanned_region() -> None:
    regions = anatomic_regions_for("R-FAB56", "SRT")  # Chest, Abdomen and Pelvis -> 416775004
    assert [region.code for region in regions] == [UPPER_TRUNK, LOWER_TRUNK]
    assert anatomic_regions_for("999999999", "SCT") == ()


def test_region_value_set_is_the_guides_ten_codes() -> None:
    assert set(table(generator.ANATOMIC_REGION_FILE)["regions"]) == ANATOMICAL_REGION_CODES
    assert len(ANATOMICAL_REGION_CODES) == 10
    used = {code for row in table(generator.BODY_PART_FILE)["terms"].values() for code in row["regions"]}
    used |= {
        code for row in table(generator.ANATOMIC_REGION_FILE)["codes"].values() for code in row["regions"]
    }
    assert used <= ANATOMICAL_REGION_CODES


def test_every_cid4031_code_of_pydicom_has_a_region_decision() -> None:
    _cids, cid4031 = pydicom_sct()
    codes = table(generator.ANATOMIC_REGION_FILE)["codes"]
    assert len(cid4031) >= 100
    assert cid4031 <= set(codes)
    without_region = {"66019005", "706342009"}  # Extremity (upper or lower), Phantom
    assert all(anatomic_regions_for(code, "SCT") for code in cid4031 - without_region)
    assert not any(anatomic_regions_for(code, "SCT") for code in without_region)


def test_every_code_is_in_pydicom_or_explicitly_noted() -> None:
    cids, cid4031 = pydicom_sct()
    rows = list(table(generator.BODY_PART_FILE)["terms"].values())
    rows += [{"snomed": code, **row} for code, row in table(generator.ANATOMIC_REGION_FILE)["codes"].items()]
    unknown = set()
    for row in rows:
        code = row["snomed"]
        if code in cid4031:
            assert row["verified"] == "CID 4031", row
        elif code in cids:
            assert (
                row["verified"].startswith("CID ") or row["verified"] == "pydicom SCT concept, in no CID"
            ), row
            assert row["verified"] != "CID 4031", row
        else:
            assert row["verified"] == "not in pydicom", row
            assert row["note"], row
            unknown.add(code)
    # only the guide's region codes that DICOM's CIDs (as pydicom 3.0.2 has them) lack
    assert unknown == {LOWER_TRUNK, UPPER_TRUNK, SPINE}


def test_annex_l_rows_match_highdicom_transcription() -> None:
    spec = importlib.util.find_spec("highdicom")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("highdicom is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "_standard" / "anatomic_regions.json"
    transcription = json.loads(path.read_text(encoding="utf-8"))
    terms = table(generator.BODY_PART_FILE)["terms"]
    assert set(terms) - set(transcription) == {"ARM", "LEG"}
    assert set(transcription) <= set(terms)
    for term, (scheme, code, meaning, *_rest) in transcription.items():
        assert scheme == "SCT"
        assert (terms[term]["snomed"], terms[term]["display"]) == (code, meaning), term


def test_modality_meanings_are_those_of_pydicoms_modality_context_groups() -> None:
    from pydicom.sr import _cid_dict, _concepts_dict

    assert modality_meaning("CT") == "Computed Tomography"
    assert modality_meaning("KO") == "Key Object Selection"
    assert modality_meaning("NOT-A-MODALITY") is None
    listed = {keyword for cid in generator.MODALITY_CIDS for keyword in _cid_dict.cid_concepts[cid]["DCM"]}
    expected = {code for keyword in listed for code in _concepts_dict.concepts["DCM"][keyword]}
    assert set(table(generator.MODALITY_FILE)["modalities"]) == expected
    assert len(expected) > 60


def test_tables_cover_at_least_the_whole_annex_l() -> None:
    header = table(generator.BODY_PART_FILE)["header"]
    assert header["term_count"] == len(table(generator.BODY_PART_FILE)["terms"]) >= 300
    assert "Annex L" in header["standard"] and "CID 4031" in header["standard"]
    assert header["edition"] and header["method"] and header["pydicom"]


def test_generator_reproduces_the_committed_json_byte_for_byte(tmp_path: Path) -> None:
    assert generator.main(["--out-dir", str(tmp_path)]) == 0
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == PACKAGE.joinpath(name).read_bytes(), name
    assert generator.main(["--check"]) == 0


def test_generator_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generator.main(["--out-dir", str(tmp_path)]) == 0
    (tmp_path / generator.BODY_PART_FILE).write_text("{}\n", encoding="utf-8")
    assert generator.main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert generator.BODY_PART_FILE in capsys.readouterr().err


@pytest.mark.parametrize(
    ("curated", "problem"),
    [
        (with_term("BOGUS", "99999999", "Bogus", ()), "BOGUS: SNOMED CT 99999999"),  # unknown to pydicom
        (with_term("CHEST", "816094009", "Chest", (UPPER_TRUNK,)), "CHEST: listed twice"),
        (with_term("LIVERX", "10200004", "Lever", (LOWER_TRUNK,)), "'Lever'"),  # meaning of another code
        (with_term("LIVERY", "10200004", "Liver", (HEART,)), "LIVERY: 10200004 rolls up"),  # region conflict
        (with_term("Liver2", "10200004", "Liver", (LOWER_TRUNK,)), "Liver2: a term must be written"),
        (generator.Curated(cid4031_without_term=CID4031_WITHOUT_TERM[1:]), "has no region"),
        (
            generator.Curated(
                cid4031_without_term=(*CID4031_WITHOUT_TERM, Concept("10200004", (LOWER_TRUNK,)))
            ),
            "not in pydicom's CID 4031",
        ),
        (
            generator.Curated(
                legacy_codes=(*LEGACY_CODES, Legacy("T-D3000", UPPER_TRUNK, "Chest", (UPPER_TRUNK,)))
            ),
            "pydicom maps it to 51185008",
        ),
        (generator.Curated(not_in_pydicom={}), "63337009"),
        (generator.Curated(meaning_notes={}), "GESTSAC"),
    ],
)
def test_generator_fails_loudly_when_the_curated_tables_disagree_with_pydicom(
    curated: generator.Curated, problem: str
) -> None:
    with pytest.raises(generator.GenerationError) as raised:
        generator.generate(curated)
    assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_generator_refuses_a_curated_code_absent_from_pydicom_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = with_term("BOGUS", "99999999", "Bogus", ())
    monkeypatch.setattr(generator, "Curated", lambda: bogus)
    assert generator.main(["--out-dir", str(tmp_path)]) == 1
    assert "BOGUS" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_lookup_module_does_not_import_pydicom() -> None:
    source = Path(str(PACKAGE.joinpath("__init__.py"))).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in {"pydicom", "highdicom"}}
    assert "bridge.extract.codes.generate" not in imported
