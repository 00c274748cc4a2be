"""The curated anatomy tables that ``generate.py`` checks against pydicom and writes out as JSON.

Edit these tables, then run ``python -m bridge.extract.codes.generate``; never edit the JSON files by hand.
Sources: DICOM PS3.16 Annex L Table L-1 "Correspondence of Anatomic Region Codes and Body Part Examined
Defined Terms", CID 4031 "Common Anatomic Regions", and the HL7 Europe Imaging Report guide's
``im-anatomical-region-valueset``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# HL7 Europe Imaging Report R5 1.0.0-ballot, im-anatomical-region-valueset (IG section 5), SNOMED CT.
LT: Final = "63337009"  # lower trunk (abdominopelvic segment of trunk)
WB: Final = "38266002"  # whole body
UL: Final = "53120007"  # upper limb
LL: Final = "61685007"  # lower limb
UT: Final = "67734004"  # upper trunk (thoracic segment of trunk)
HN: Final = "774007"  # head and neck
CV: Final = "113257007"  # cardiovascular system
HT: Final = "80891009"  # heart
BR: Final = "76752008"  # breast
SP: Final = "737561001"  # spine (vertebral column and/or spinal cord)

REGION_VALUE_SET: Final = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-anatomical-region-valueset"
# Displays are SNOMED CT descriptions of each concept; the value set itself fixes no display.
REGION_DISPLAYS: Final[dict[str, str]] = {
    LT: "Lower trunk structure",
    WB: "Entire body as a whole",
    UL: "Upper limb structure",
    LL: "Lower limb structure",
    UT: "Upper trunk structure",
    HN: "Structure of head and/or neck",
    CV: "Structure of cardiovascular system",
    HT: "Heart structure",
    BR: "Breast structure",
    SP: "Structure of vertebral column and/or spinal cord",
}

# How each code was given its regions (recorded in the JSON headers too).
REGION_RULES: Final[tuple[str, ...]] = (
    "Blood vessels, vessel lumen and endovascular approaches roll up to the cardiovascular system "
    "(113257007), wherever they lie; the heart, its chambers, coronary arteries, cardiac veins and coronary "
    "sinus to the heart (80891009).",
    "Vertebral column segments, sacrum, coccyx and spinal cord roll up to the spine (737561001).",
    "Shoulder, clavicle, scapula, acromioclavicular joint and hip joint belong to the limb, as in "
    "Terminologia Anatomica; the bony pelvis (ilium, sacroiliac joint), buttock, perineum, external "
    "genitalia, pregnancy structures and abdominal wall regions belong to the lower trunk (63337009).",
    "Chest contents that also reach the neck or abdomen (trachea, esophagus) and the axilla, thymus, ribs, "
    "sternum and sternoclavicular joint roll up to the upper trunk (67734004); brain, face, eye, ear, mouth, "
    "pharynx, larynx, thyroid and neck regions to head and neck (774007).",
    "A term that spans regions (CHESTABDOMEN, NECKCHEST, TRUNK, PELVISLOWEXTREMT, ...) lists every region it "
    "spans; 'region' is then null and 'regions' holds them all.",
    "EXTREMITY (upper or lower, not both), JOINT and PHANTOM roll up to no region.",
)


class Term(NamedTuple):
    """A Body Part Examined defined term, its SNOMED CT code and Code Meaning, and its regions."""

    term: str
    code: str
    meaning: str
    regions: tuple[str, ...]


class Concept(NamedTuple):
    """A CID 4031 SNOMED CT code that no Body Part Examined term carries, and the regions it rolls up to."""

    code: str
    regions: tuple[str, ...]


class Legacy(NamedTuple):
    """A SNOMED-RT code of an earlier CID 4031, the SCT code pydicom maps it to, and that code's regions."""

    srt: str
    code: str
    meaning: str
    regions: tuple[str, ...]


# PS3.16 Annex L Table L-1, in the standard's order (by Code Meaning). Terms, codes and meanings were copied
# from highdicom 0.28.2's transcription of the table (highdicom/_standard/anatomic_regions.json), which keeps
# only rows that have a Body Part Examined term; generate.py checks every code against pydicom.
ANNEX_L: Final[tuple[Term, ...]] = (
    Term("ABDOMEN", "818981001", "Abdomen", (LT,)),
    Term("ABDOMENPELVIS", "818982008", "Abdomen and Pelvis", (LT,)),
    Term("ABDOMINALAORTA", "7832008", "Abdominal aorta", (CV,)),
    Term("ACJOINT", "85856004", "Acromioclavicular joint", (UL,)),
    Term("ADRENAL", "23451007", "Adrenal gland", (LT,)),
    Term("AMNIOTICFLUID", "77012006", "Amniotic fluid", (LT,)),
    Term("ANKLE", "70258002", "Ankle joint", (LL,)),
    Term("ANTECUBITALV", "128553008", "Antecubital vein", (CV,)),
    Term("ANTCARDIACV", "194996006", "Anterior cardiac vein", (HT,)),
    Term("ACA", "60176003", "Anterior cerebral artery", (CV,)),
    Term("ANTCOMMA", "8012006", "Anterior communicating artery", (CV,)),
    Term("ANTSPINALA", "17388009", "Anterior spinal artery", (CV,)),
    Term("ANTTIBIALA", "68053000", "Anterior tibial artery", (CV,)),
    Term("ANUSRECTUMSIGMD", "110612005", "Anus, rectum and sigmoid colon", (LT,)),
    Term("AORTA", "15825003", "Aorta", (CV,)),
    Term("AORTICARCH", "57034009", "Aortic arch", (CV,)),
    Term("APPENDIX", "66754008", "Appendix", (LT,)),
    Term("ARTERY", "51114001", "Artery", (CV,)),
    Term("ASCAORTA", "54247002", "Ascending aorta", (CV,)),
    Term("ASCENDINGCOLON", "9040008", "Ascending colon", (LT,)),
    Term("AXILLA", "91470000", "Axilla", (UT,)),
    Term("AXILLARYA", "67937003", "Axillary Artery", (CV,)),
    Term("AXILLARYV", "68705008", "Axillary vein", (CV,)),
    Term("AZYGOSVEIN", "72107004", "Azygos vein", (CV,)),
    Term("BACK", "77568009", "Back", (UT, LT)),
    Term("BASILARA", "59011009", "Basilar artery", (CV,)),
    Term("BILEDUCT", "28273000", "Bile duct", (LT,)),
    Term("BILIARYTRACT", "34707002", "Biliary tract", (LT,)),
    Term("BLADDER", "89837001", "Bladder", (LT,)),
    Term("BLADDERURETHRA", "110837003", "Bladder and urethra", (LT,)),
    Term("BRACHIALA", "17137000", "Brachial artery", (CV,)),
    Term("BRACHIALV", "20115005", "Brachial vein", (CV,)),
    Term("BRAIN", "12738006", "Brain", (HN,)),
    Term("BREAST", "76752008", "Breast", (BR,)),
    Term("BRONCHUS", "955009", "Bronchus", (UT,)),
    Term("BUTTOCK", "46862004", "Buttock", (LT,)),
    Term("CALCANEUS", "80144004", "Calcaneus", (LL,)),
    Term("CALF", "53840002", "Calf of leg", (LL,)),
    Term("CARDIOVASCSYS", "113257007", "Cardiovascular system", (CV,)),
    Term("CAROTID", "69105007", "Carotid Artery", (CV,)),
    Term("BULB", "21479005", "Carotid bulb", (CV,)),
    Term("CELIACA", "57850000", "Celiac artery", (CV,)),
    Term("CEPHALICV", "20699002", "Cephalic vein", (CV,)),
    Term("CEREBELLUM", "113305005", "Cerebellum", (HN,)),
    Term("CEREBRALA", "88556005", "Cerebral artery", (CV,)),
    Term("CEREBHEMISPHERE", "372073000", "Cerebral hemisphere", (HN,)),
    Term("CSPINE", "122494005", "Cervical spine", (SP,)),
    Term("CTSPINE", "1217257000", "Cervico-thoracic spine", (SP,)),
    Term("CERVIX", "71252005", "Cervix", (LT,)),
    Term("CHEEK", "60819002", "Cheek", (HN,)),
    Term("CHEST", "816094009", "Chest", (UT,)),
    Term("CHESTABDPELVIS", "416775004", "Chest, Abdomen and Pelvis", (UT, LT)),
    Term("CHESTABDOMEN", "416550000", "Chest and Abdomen", (UT, LT)),
    Term("CHOROIDPLEXUS", "80621003", "Choroid plexus", (HN,)),
    Term("CIRCLEOFWILLIS", "11279006", "Circle of Willis", (CV,)),
    Term("CLAVICLE", "51299004", "Clavicle", (UL,)),
    Term("COCCYX", "64688005", "Coccyx", (SP,)),
    Term("COLON", "71854001", "Colon", (LT,)),
    Term("COMMONBILEDUCT", "79741001", "Common bile duct", (LT,)),
    Term("CCA", "32062004", "Common carotid artery", (CV,)),
    Term("CFA", "181347005", "Common femoral artery", (CV,)),
    Term("CFV", "397363009", "Common femoral vein", (CV,)),
    Term("COMILIACA", "73634005", "Common iliac artery", (CV,)),
    Term("COMILIACV", "46027005", "Common iliac vein", (CV,)),
    Term("CORNEA", "28726007", "Cornea", (HN,)),
    Term("CORONARYARTERY", "41801008", "Coronary artery", (HT,)),
    Term("CORONARYSINUS", "90219004", "Coronary sinus", (HT,)),
    Term("DESCAORTA", "281130003", "Descending aorta", (CV,)),
    Term("DESCENDINGCOLON", "32622004", "Descending colon", (LT,)),
    Term("DUODENUM", "38848004", "Duodenum", (LT,)),
    Term("EAR", "117590005", "Ear", (HN,)),
    Term("ELBOW", "16953009", "Elbow joint", (UL,)),
    Term("ENDOARTERIAL", "51114001", "Endo-arterial", (CV,)),
    Term("ENDOCARDIAC", "80891009", "Endo-cardiac", (HT,)),
    Term("ENDOESOPHAGEAL", "32849002", "Endo-esophageal", (UT,)),
    Term("ENDOMETRIUM", "2739003", "Endometrium", (LT,)),
    Term("ENDONASAL", "53342003", "Endo-nasal", (HN,)),
    Term("ENDONASOPHARYNYX", "18962004", "Endo-nasopharyngeal", (HN,)),
    Term("ENDORECTAL", "34402009", "Endo-rectal", (LT,)),
    Term("ENDORENAL", "64033007", "Endo-renal", (LT,)),
    Term("ENDOURETERIC", "87953007", "Endo-ureteric", (LT,)),
    Term("ENDOURETHRAL", "13648007", "Endo-urethral", (LT,)),
    Term("ENDOVAGINAL", "76784001", "Endo-vaginal", (LT,)),
    Term("ENDOVASCULAR", "59820001", "Endo-vascular", (CV,)),
    Term("ENDOVENOUS", "29092000", "Endo-venous", (CV,)),
    Term("ENDOVESICAL", "48367006", "Endo-vesical", (LT,)),
    Term("WHOLEBODY", "38266002", "Entire body", (WB,)),
    Term("EPIDIDYMIS", "87644002", "Epididymis", (LT,)),
    Term("EPIGASTRIC", "27947004", "Epigastric region", (LT,)),
    Term("ESOPHAGUS", "32849002", "Esophagus", (UT,)),
    Term("EAC", "84301002", "External auditory canal", (HN,)),
    Term("ECA", "22286001", "External carotid artery", (CV,)),
    Term("EXTILIACA", "113269004", "External iliac artery", (CV,)),
    Term("EXTILIACV", "63507001", "External iliac vein", (CV,)),
    Term("EXTJUGV", "71585003", "External jugular vein", (CV,)),
    Term("EXTREMITY", "66019005", "Extremity", ()),
    Term("EYE", "81745001", "Eye", (HN,)),
    Term("EYELID", "80243003", "Eyelid", (HN,)),
    Term("FACE", "89545001", "Face", (HN,)),
    Term("FACIALA", "23074001", "Facial artery", (CV,)),
    Term("FEMORALA", "7657000", "Femoral artery", (CV,)),
    Term("FEMORALV", "83419000", "Femoral vein", (CV,)),
    Term("FEMUR", "71341001", "Femur", (LL,)),
    Term("FIBULA", "87342007", "Fibula", (LL,)),
    Term("FINGER", "7569003", "Finger", (UL,)),
    Term("FLANK", "58602004", "Flank", (LT,)),
    Term("FONTANEL", "79361005", "Fontanel of skull", (HN,)),
    Term("FOOT", "56459004", "Foot", (LL,)),
    Term("FOREARM", "14975008", "Forearm", (UL,)),
    Term("4THVENTRICLE", "35918002", "Fourth ventricle", (HN,)),
    Term("GALLBLADDER", "28231008", "Gallbladder", (LT,)),
    Term("GASTRICV", "110568007", "Gastric vein", (CV,)),
    Term("GENICULARA", "128559007", "Genicular artery", (CV,)),
    Term("GESTSAC", "300571009", "Gestational sac", (LT,)),
    Term("GLUTEAL", "46862004", "Gluteal region", (LT,)),
    Term("GSV", "60734001", "Great saphenous vein", (CV,)),
    Term("HAND", "85562004", "Hand", (UL,)),
    Term("HEAD", "69536005", "Head", (HN,)),
    Term("HEADNECK", "774007", "Head and Neck", (HN,)),
    Term("HEART", "80891009", "Heart", (HT,)),
    Term("HEPATICA", "76015000", "Hepatic artery", (CV,)),
    Term("HEPATICV", "8993003", "Hepatic vein", (CV,)),
    Term("HIP", "24136001", "Hip joint", (LL,)),
    Term("HUMERUS", "85050009", "Humerus", (UL,)),
    Term("HYPOGASTRIC", "11708003", "Hypogastric region", (LT,)),
    Term("HYPOPHARYNX", "81502006", "Hypopharynx", (HN,)),
    Term("ILEUM", "34516001", "Ileum", (LT,)),
    Term("ILIACA", "10293006", "Iliac artery", (CV,)),
    Term("ILIACV", "244411005", "Iliac vein", (CV,)),
    Term("ILIUM", "22356005", "Ilium", (LT,)),
    Term("INFMESA", "33795007", "Inferior mesenteric artery", (CV,)),
    Term("INFVENACAVA", "64131007", "Inferior vena cava", (CV,)),
    Term("INGUINAL", "26893007", "Inguinal region", (LT,)),
    Term("INNOMINATEA", "12691009", "Innominate artery", (CV,)),
    Term("INNOMINATEV", "8887007", "Innominate vein", (CV,)),
    Term("IAC", "361078006", "Internal Auditory Canal", (HN,)),
    Term("ICA", "86117002", "Internal carotid artery", (CV,)),
    Term("INTILIACA", "90024005", "Internal iliac artery", (CV,)),
    Term("INTJUGULARV", "12123001", "Internal jugular vein", (CV,)),
    Term("INTMAMMARYA", "69327007", "Internal mammary artery", (CV,)),
    Term("INTRACRANIAL", "1101003", "Intracranial", (HN,)),
    Term("JAW", "661005", "Jaw region", (HN,)),
    Term("JEJUNUM", "21306003", "Jejunum", (LT,)),
    Term("JOINT", "39352004", "Joint", ()),
    Term("KIDNEY", "64033007", "Kidney", (LT,)),
    Term("KNEE", "72696002", "Knee", (LL,)),
    Term("LACRIMALA", "59749000", "Lacrimal artery", (CV,)),
    Term("LARGEINTESTINE", "14742008", "Large intestine", (LT,)),
    Term("LARYNX", "4596009", "Larynx", (HN,)),
    Term("LATVENTRICLE", "66720007", "Lateral Ventricle", (HN,)),
    Term("LATRIUM", "82471001", "Left atrium", (HT,)),
    Term("LFEMORALA", "113270003", "Left femoral artery", (CV,)),
    Term("LHEPATICV", "273202007", "Left hepatic vein", (CV,)),
    Term("LHYPOCHONDRIAC", "133945003", "Left hypochondriac region", (LT,)),
    Term("LINGUINAL", "85119005", "Left inguinal region", (LT,)),
    Term("LLQ", "68505006", "Left lower quadrant of abdomen", (LT,)),
    Term("LLUMBAR", "1017210004", "Left lumbar region", (LT,)),
    Term("LPORTALV", "70253006", "Left portal vein", (CV,)),
    Term("LPULMONARYA", "50408007", "Left pulmonary artery", (CV,)),
    Term("LUQ", "86367003", "Left upper quadrant of abdomen", (LT,)),
    Term("LVENTRICLE", "87878005", "Left ventricle", (HT,)),
    Term("LINGUALA", "113264009", "Lingual artery", (CV,)),
    Term("LIVER", "10200004", "Liver", (LT,)),
    Term("LOWERLEG", "30021000", "Lower leg", (LL,)),
    Term("LOWERLIMB", "61685007", "Lower limb", (LL,)),
    Term("LOWERTRUNK", "63337009", "Lower trunk", (LT,)),
    Term("LUMBARA", "34635009", "Lumbar artery", (CV,)),
    Term("LUMBAR", "52612000", "Lumbar region", (LT,)),
    Term("LSPINE", "122496007", "Lumbar spine", (SP,)),
    Term("LSSPINE", "1217253001", "Lumbo-sacral spine", (SP,)),
    Term("LUMEN", "91747007", "Lumen of blood vessel", (CV,)),
    Term("LUNG", "39607008", "Lung", (UT,)),
    Term("MANDIBLE", "91609006", "Mandible", (HN,)),
    Term("MASTOID", "59066005", "Mastoid bone", (HN,)),
    Term("MAXILLA", "70925003", "Maxilla", (HN,)),
    Term("MEDIASTINUM", "72410000", "Mediastinum", (UT,)),
    Term("MESENTRICA", "86570000", "Mesenteric artery", (CV,)),
    Term("MESENTRICV", "128583004", "Mesenteric vein", (CV,)),
    Term("MCA", "17232002", "Middle cerebral artery", (CV,)),
    Term("MIDHEPATICV", "273099000", "Middle hepatic vein", (CV,)),
    Term("MORISONSPOUCH", "243977002", "Morisons pouch", (LT,)),
    Term("MOUTH", "123851003", "Mouth", (HN,)),
    Term("NASOPHARYNX", "360955006", "Nasopharynx", (HN,)),
    Term("NECK", "45048000", "Neck", (HN,)),
    Term("NECKCHESTABDPELV", "416319003", "Neck, Chest, Abdomen and Pelvis", (HN, UT, LT)),
    Term("NECKCHESTABDOMEN", "416152001", "Neck, Chest and Abdomen", (HN, UT, LT)),
    Term("NECKCHEST", "417437006", "Neck and Chest", (HN, UT)),
    Term("NOSE", "45206002", "Nose", (HN,)),
    Term("OCCPITALA", "31145008", "Occipital artery", (CV,)),
    Term("OCCIPTALV", "32114007", "Occipital vein", (CV,)),
    Term("OPHTHALMICA", "53549008", "Ophthalmic artery", (CV,)),
    Term("OPTICCANAL", "55024004", "Optic canal", (HN,)),
    Term("ORBIT", "363654007", "Orbital structure", (HN,)),
    Term("OVARY", "15497006", "Ovary", (LT,)),
    Term("PANCREAS", "15776009", "Pancreas", (LT,)),
    Term("PANCREATICDUCT", "69930009", "Pancreatic duct", (LT,)),
    Term("PANCBILEDUCT", "110621006", "Pancreatic duct and bile duct systems", (LT,)),
    Term("PARASTERNAL", "91691001", "Parasternal", (UT,)),
    Term("PARATHYROID", "111002", "Parathyroid", (HN,)),
    Term("PAROTID", "45289007", "Parotid gland", (HN,)),
    Term("PATELLA", "64234005", "Patella", (LL,)),
    Term("PELVIS", "816092008", "Pelvis", (LT,)),
    Term("PELVISLOWEXTREMT", "1231522001", "Pelvis and lower extremities", (LT, LL)),
    Term("PENILEA", "282044005", "Penile artery", (CV,)),
    Term("PENIS", "18911002", "Penis", (LT,)),
    Term("PERINEUM", "38864007", "Perineum", (LT,)),
    Term("PERONEALA", "8821006", "Peroneal artery", (CV,)),
    Term("PHANTOM", "706342009", "Phantom", ()),
    Term("PHARYNX", "54066008", "Pharynx", (HN,)),
    Term("PHARYNXLARYNX", "312535008", "Pharynx and larynx", (HN,)),
    Term("PLACENTA", "78067005", "Placenta", (LT,)),
    Term("POPLITEALA", "43899006", "Popliteal artery", (CV,)),
    Term("POPLITEALFOSSA", "32361000", "Popliteal fossa", (LL,)),
    Term("POPLITEALV", "56849005", "Popliteal vein", (CV,)),
    Term("PORTALV", "32764006", "Portal vein", (CV,)),
    Term("PCA", "70382005", "Posterior cerebral artery", (CV,)),
    Term("POSCOMMA", "43119007", "Posterior communicating artery", (CV,)),
    Term("POSTIBIALA", "13363002", "Posterior tibial artery", (CV,)),
    Term("PROFFEMA", "31677005", "Profunda femoris artery", (CV,)),
    Term("PROFFEMV", "23438002", "Profunda femoris vein", (CV,)),
    Term("PROSTATE", "41216001", "Prostate", (LT,)),
    Term("PULMONARYA", "81040000", "Pulmonary artery", (CV,)),
    Term("PULMONARYV", "122972007", "Pulmonary vein", (CV,)),
    Term("RADIALA", "45631007", "Radial artery", (CV,)),
    Term("RADIUS", "62413002", "Radius", (UL,)),
    Term("RADIUSULNA", "110535000", "Radius and ulna", (UL,)),
    Term("CULDESAC", "53843000", "Rectouterine pouch", (LT,)),
    Term("RECTUM", "34402009", "Rectum", (LT,)),
    Term("RENALA", "2841007", "Renal artery", (CV,)),
    Term("RENALV", "56400007", "Renal vein", (CV,)),
    Term("RETROPERITONEUM", "82849001", "Retroperitoneum", (LT,)),
    Term("RIB", "113197003", "Rib", (UT,)),
    Term("RATRIUM", "73829009", "Right atrium", (HT,)),
    Term("RFEMORALA", "69833005", "Right femoral artery", (CV,)),
    Term("RHEPATICV", "272998002", "Right hepatic vein", (CV,)),
    Term("RHYPOCHONDRIAC", "133946002", "Right hypochondriac region", (LT,)),
    Term("RINGUINAL", "37117007", "Right inguinal region", (LT,)),
    Term("RLQ", "48544008", "Right lower quadrant of abdomen", (LT,)),
    Term("RLUMBAR", "1017211000", "Right lumbar region", (LT,)),
    Term("RPORTALV", "73931004", "Right portal vein", (CV,)),
    Term("RPULMONARYA", "78480002", "Right pulmonary artery", (CV,)),
    Term("RUQ", "50519007", "Right upper quadrant of abdomen", (LT,)),
    Term("RVENTRICLE", "53085002", "Right ventricle", (HT,)),
    Term("SIJOINT", "39723000", "Sacroiliac joint", (LT,)),
    Term("SSPINE", "54735007", "Sacrum", (SP,)),
    Term("SFJ", "128587003", "Saphenofemoral junction", (CV,)),
    Term("SAPHENOUSV", "362072009", "Saphenous vein", (CV,)),
    Term("SCALP", "41695006", "Scalp", (HN,)),
    Term("SCAPULA", "79601000", "Scapula", (UL,)),
    Term("SCLERA", "18619003", "Sclera", (HN,)),
    Term("SCROTUM", "20233005", "Scrotum", (LT,)),
    Term("SELLA", "42575006", "Sella turcica", (HN,)),
    Term("SEMVESICLE", "64739004", "Seminal vesicle", (LT,)),
    Term("SESAMOID", "58742003", "Sesamoid bones of foot", (LL,)),
    Term("SHOULDER", "16982005", "Shoulder", (UL,)),
    Term("SIGMOID", "60184004", "Sigmoid colon", (LT,)),
    Term("SKULL", "89546000", "Skull", (HN,)),
    Term("SMALLINTESTINE", "30315005", "Small intestine", (LT,)),
    Term("SPINALCORD", "2748008", "Spinal cord", (SP,)),
    Term("SPINE", "421060004", "Spine", (SP,)),
    Term("SPLEEN", "78961009", "Spleen", (LT,)),
    Term("SPLENICA", "22083002", "Splenic artery", (CV,)),
    Term("SPLENICV", "35819009", "Splenic vein", (CV,)),
    Term("SCJOINT", "7844006", "Sternoclavicular joint", (UT,)),
    Term("STERNUM", "56873002", "Sternum", (UT,)),
    Term("STOMACH", "69695003", "Stomach", (LT,)),
    Term("SUBCLAVIANA", "36765005", "Subclavian artery", (CV,)),
    Term("SUBCLAVIANV", "9454009", "Subclavian vein", (CV,)),
    Term("SUBCOSTAL", "19695001", "Subcostal", (LT,)),
    Term("SUBMANDIBULAR", "54019009", "Submandibular gland", (HN,)),
    Term("SFA", "181349008", "Superficial femoral artery", (CV,)),
    Term("SFV", "397364003", "Superficial femoral vein", (CV,)),
    Term("LSUPPULMONARYV", "43863001", "Superior left pulmonary vein", (CV,)),
    Term("SMA", "42258001", "Superior mesenteric artery", (CV,)),
    Term("RSUPPULMONARYV", "8629005", "Superior right pulmonary vein", (CV,)),
    Term("SUPTHYROIDA", "72021004", "Superior thyroid artery", (CV,)),
    Term("SVC", "48345005", "Superior vena cava", (CV,)),
    Term("SUPRACLAVICULAR", "77621008", "Supraclavicular region of neck", (HN,)),
    Term("SUPRAPUBIC", "11708003", "Suprapubic region", (LT,)),
    Term("TMJ", "53620006", "Temporomandibular joint", (HN,)),
    Term("TESTIS", "40689003", "Testis", (LT,)),
    Term("THALAMUS", "42695009", "Thalamus", (HN,)),
    Term("THIGH", "68367000", "Thigh", (LL,)),
    Term("3RDVENTRICLE", "49841001", "Third ventricle", (HN,)),
    Term("THORACICAORTA", "113262008", "Thoracic aorta", (CV,)),
    Term("TSPINE", "122495006", "Thoracic spine", (SP,)),
    Term("TLSPINE", "1217256009", "Thoraco-lumbar spine", (SP,)),
    Term("THORAX", "816094009", "Chest", (UT,)),
    Term("THUMB", "76505004", "Thumb", (UL,)),
    Term("THYMUS", "9875009", "Thymus", (UT,)),
    Term("THYROID", "69748006", "Thyroid", (HN,)),
    Term("TIBIA", "12611008", "Tibia", (LL,)),
    Term("TIBIAFIBULA", "110536004", "Tibia and fibula", (LL,)),
    Term("TOE", "29707007", "Toe", (LL,)),
    Term("TONGUE", "21974007", "Tongue", (HN,)),
    Term("TRACHEA", "44567001", "Trachea", (UT,)),
    Term("TRACHEABRONCHUS", "110726009", "Trachea and bronchus", (UT,)),
    Term("TRANSVERSECOLON", "485005", "Transverse colon", (LT,)),
    Term("TRUNK", "22943007", "Trunk", (UT, LT)),
    Term("ULNA", "23416004", "Ulna", (UL,)),
    Term("ULNARA", "44984001", "Ulnar artery", (CV,)),
    Term("UMBILICALA", "50536004", "Umbilical artery", (CV,)),
    Term("UMBILICAL", "90290004", "Umbilical region", (LT,)),
    Term("UMBILICALV", "284639000", "Umbilical vein", (CV,)),
    Term("UPPERARM", "40983000", "Upper arm", (UL,)),
    Term("UPPERLIMB", "53120007", "Upper limb", (UL,)),
    Term("UPPERTRUNK", "67734004", "Upper trunk", (UT,)),
    Term("UPRURINARYTRACT", "431491007", "Upper urinary tract", (LT,)),
    Term("URETER", "87953007", "Ureter", (LT,)),
    Term("URETHRA", "13648007", "Urethra", (LT,)),
    Term("UTERUS", "35039007", "Uterus", (LT,)),
    Term("VAGINA", "76784001", "Vagina", (LT,)),
    Term("VEIN", "29092000", "Vein", (CV,)),
    Term("VERTEBRALA", "85234005", "Vertebral artery", (CV,)),
    Term("VULVA", "45292006", "Vulva", (LT,)),
    Term("WRIST", "74670003", "Wrist joint", (UL,)),
    Term("ZYGOMA", "13881006", "Zygoma", (HN,)),
)

# Body Part Examined defined terms of the original PS3.3 list (DICOM Supplement 32) that Annex L does not
# carry. "ARM" and "LEG" do not say which segment, so they map to the whole limb.
LEGACY_TERMS: Final[tuple[Term, ...]] = (
    Term("ARM", UL, "Upper limb", (UL,)),
    Term("LEG", LL, "Lower limb", (LL,)),
)

# CID 4031 codes (as pydicom lists them) that no Annex L row above carries: their meaning comes from pydicom.
CID4031_WITHOUT_TERM: Final[tuple[Concept, ...]] = (
    Concept("2095001", (HN,)),  # Paranasal sinus
    Concept("27949001", (LL,)),  # Tarsal joint
    Concept("29836001", (LL,)),  # Hip (region; HIP is the hip joint)
    Concept("30608006", (UL,)),  # Muscle of upper limb
    Concept("53505006", (LT,)),  # Anus
    Concept("72001000", (LL,)),  # Bone of lower limb
    Concept("74386004", (HN,)),  # Nasal bone
    Concept("86598002", (UT,)),  # Apex of Lung
    Concept("91397008", (HN,)),  # Facial bones
    Concept("102292000", (LL,)),  # Muscle of lower limb
    Concept("110517009", (SP, HN)),  # Vertebral column and cranium
    Concept("110639002", (LT,)),  # Uterus and fallopian tubes
    Concept("110861005", (UT, LT)),  # Esophagus, stomach and duodenum
    Concept("303270005", (LT,)),  # Liver and biliary structure
    Concept("371195002", (UL,)),  # Bone of upper limb
    Concept("371398005", (HN,)),  # Eye region
    Concept("1217254007", (SP,)),  # Sacro-coccygeal Spine
)

# CID 4031 of PS3.16 2019a still used SNOMED-RT (SRT) codes. Where pydicom's SRT -> SCT mapping leads to a
# code that the current CID 4031 and Annex L no longer use, the old code keeps a region so that older objects
# still roll up. SRT codes and meanings from DCMTK's dcmsr/libcmr/cid4031.cc, generated from PS3.16 2019a.
LEGACY_CODES: Final[tuple[Legacy, ...]] = (
    Legacy("R-FAB57", "416949008", "Abdomen and Pelvis", (LT,)),
    Legacy("R-FAB58", "416631005", "Pelvis and lower extremities", (LT, LL)),
    Legacy("T-D00F7", "297171002", "Cervico-thoracic spine", (SP,)),
    Legacy("T-D00F8", "297172009", "Thoraco-lumbar spine", (SP,)),
    Legacy("T-D00F9", "297173004", "Lumbo-sacral spine", (SP,)),
    Legacy("T-D3000", "51185008", "Chest", (UT,)),
    Legacy("T-D4000", "113345001", "Abdomen", (LT,)),
    Legacy("T-D6000", "12921003", "Pelvis", (LT,)),
)

# SNOMED CT codes pydicom 3.0.2 does not know, with the reason each is still right.
NOT_IN_PYDICOM: Final[dict[str, str]] = {
    LT: "Annex L code of LOWERTRUNK and an HL7 Europe Imaging / IHE MADO region code; no CID in pydicom "
    "3.0.2 lists it (pydicom holds CIDs, not Annex L)",
    UT: "Annex L code of UPPERTRUNK and an HL7 Europe Imaging / IHE MADO region code; no CID in pydicom "
    "3.0.2 lists it (pydicom holds CIDs, not Annex L)",
    SP: "HL7 Europe Imaging region code, not used by DICOM (Annex L SPINE is 421060004; IHE MADO uses "
    "1141981001)",
}

# Annex L Code Meanings that differ from every meaning pydicom gives the code, and why the code is right.
MEANING_NOTES: Final[dict[str, str]] = {
    "AMNIOTICFLUID": "pydicom knows 77012006 only from its SNOMED table, as 'Amniotic fluid (substance)'",
    "CALF": "pydicom: 'Structure of calf of leg (body structure)', the SNOMED CT fully specified name",
    "CELIACA": "pydicom: 'Celiac Axis' / 'Structure of celiac artery (body structure)'",
    "CHOROIDPLEXUS": "pydicom: 'Structure of choroid plexus (body structure)', the fully specified name",
    "CULDESAC": "pydicom: 'Structure of rectouterine pouch (body structure)', the fully specified name",
    "GESTSAC": "pydicom lists 300571009 as 'Finding of gestational sac (finding)'; Annex L uses it as is",
    "GLUTEAL": "same code as BUTTOCK; pydicom: 'Buttock'",
    "LPORTALV": "pydicom: 'Left Main Branch of Portal Vein'",
    "MORISONSPOUCH": 'pydicom: "Rutherford Morrison\'s pouch (body structure)", the fully specified name',
    "PENILEA": "pydicom: 'Structure of penile artery (body structure)', the fully specified name",
    "RPORTALV": "pydicom: 'Right Main Branch of Portal Vein'",
    "SUPRAPUBIC": "same code as HYPOGASTRIC; pydicom: 'Hypogastric region'",
}
