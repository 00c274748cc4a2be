"""``dicom-bridge serve`` as a user runs it: a subprocess with a config file, fed by pynetdicom and DCMTK peers."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification

from bridge.ingest.scp import set_tcp_nodelay
from bridge.samples import write_ct_study
from tests.conftest import SAMPLE_DICOM
from tests.e2e.conftest import (
    AE_TITLE,
    SEAL_TIMEOUT,
    Dcmtk,
    ServeConfig,
    ServeProcess,
    TlsFiles,
    imaging_study,
    instance_uids,
    query,
    study_row,
    wait_for,
    wait_sealed,
    write_config,
)

Serve = Callable[[ServeConfig], ServeProcess]
SUCCESS = 0x0000
CT_CHEST = SAMPLE_DICOM / "ct-chest"


def sop_instance_uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def study_instance_uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def associate(
    port: int, tls_args: tuple[ssl.SSLContext, str] | None = None, dimse_timeout: float = 20
) -> Association:
    """An association from CT01 offering CT Image Storage (Explicit VR Little Endian) and Verification, Nagle off."""
    ae = AE(ae_title="CT01")
    ae.acse_timeout = ae.network_timeout = 20
    ae.dimse_timeout = dimse_timeout
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(Verification)
    return ae.associate("127.0.0.1", port, ae_title=AE_TITLE, tls_args=tls_args,
                        evt_handlers=[(evt.EVT_CONN_OPEN, set_tcp_nodelay)])


def c_store_all(
    port: int, paths: Sequence[Path], acknowledged: Callable[[int], None] | None = None, dimse_timeout: float = 20
) -> tuple[dict[Path, int | None], Association]:
    """C-STORE ``paths`` in one association until it ends; the status of each file sent (None: no response).

    ``acknowledged(n)`` is called after the n-th success status.
    """
    assoc = associate(port, dimse_timeout=dimse_timeout)
    assert assoc.is_established, f"association to port {port} not established"
    statuses: dict[Path, int | None] = {}
    successes = 0
    try:
        for path in paths:
            if not assoc.is_established:
                break
            try:
                response = assoc.send_c_store(path)
            except RuntimeError:  # the association ended between the check and the request
                break
            statuses[path] = int(response.Status) if "Status" in response else None
            if statuses[path] == SUCCESS:
                successes += 1
                if acknowledged is not None:
                    acknowledged(successes)
    finally:
        if assoc.is_established:
            assoc.release()
        else:
            close_transport(assoc)
    return statuses, assoc


def close_transport(assoc: Association) -> None:
    """Close the socket of an association that ended by an abort.

    pynetdicom's AssociationSocket._shutdown_socket() skips close() when shutdown() fails (the peer is gone),
    which leaves the socket to the garbage collector and a ResourceWarning.
    """
    wait_for(lambda: not assoc.is_alive(), "the association thread to end", 10)
    transport = assoc.dul.socket
    if transport is not None and transport.socket is not None:
        transport.socket.close()


# ------------------------------------------------------------------------------------------------ 1. kill -9


def test_kill_9_mid_association_loses_no_acknowledged_instance(tmp_path: Path, serve: Serve) -> None:
    files = write_ct_study(tmp_path / "src", n_series=5, per_series=100, seed="crash", rows=32, columns=32)
    uids = {path: sop_instance_uid(path) for path in files}
    assert len(set(uids.values())) == 500
    study_uid = study_instance_uid(files[0])
    config = write_config(tmp_path / "bridge", quiet_period=1.0)

    first = serve(config)
    halfway = threading.Event()
    cancelled = threading.Event()

    def kill_at_halfway() -> None:
        if halfway.wait(SEAL_TIMEOUT) and not cancelled.is_set():
            os.kill(first.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_at_halfway, name="killer")
    killer.start()
    try:
        # pynetdicom sometimes misses the end of the connection when it comes between two requests (its reactor
        # thread takes the abort marker off the DIMSE queue) and then waits dimse_timeout for a response: keep it short.
        statuses, assoc = c_store_all(
            first.port, files, lambda n: halfway.set() if n == 200 else None, dimse_timeout=5
        )
    finally:
        if not halfway.is_set():
            cancelled.set()
        halfway.set()
        killer.join()
    assert first.process.wait(10) == -signal.SIGKILL
    wait_for(lambda: assoc.is_aborted, "the client to see the association abort", 10)

    acked = {uids[p] for p, status in statuses.items() if status == SUCCESS}
    assert not [s for s in statuses.values() if s not in (SUCCESS, None)], "no failure status before the kill"
    assert 200 <= len(acked) < 500, f"{len(acked)} acknowledged: the kill did not land mid-association"

    second = serve(config)  # the same config: same data directory and store
    assert list((config.data_dir / "tmp").iterdir()) == [], "tmp/ is cleared at start-up"
    unacked = [p for p in files if uids[p] not in acked]
    resent, _ = c_store_all(second.port, unacked)
    assert resent == dict.fromkeys(unacked, SUCCESS)

    study = wait_sealed(config, study_uid, None, 500)
    rows = query(config.state_db, "SELECT sop_instance_uid, study_instance_uid, state, path FROM instances")
    assert len(rows) == 500
    assert {r[0] for r in rows} == set(uids.values())
    assert {(r[1], r[2]) for r in rows} == {(study_uid, "parsed")}
    assert query(config.state_db, "SELECT study_instance_uid, state FROM studies") == [(study_uid, "sealed")]

    listed = instance_uids(study)
    assert study["numberOfInstances"] == 500
    assert len(listed) == 500 and set(listed) == set(uids.values())
    assert acked <= set(listed)

    spooled = sorted((config.data_dir / "spool").glob("??/*.dcm"))
    assert len(spooled) == 500
    assert {str(p) for p in spooled} == {r[3] for r in rows}
    assert list((config.data_dir / "tmp").iterdir()) == []


def test_workers_end_when_the_server_is_killed(tmp_path: Path, serve: Serve) -> None:
    server = serve(write_config(tmp_path))
    assert len(server.workers) == 2
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert server.leftover_workers(timeout=3) == []


# ------------------------------------------------------------------------------------------------ 2. DCMTK peers


def test_dcmtk_peers_store_a_study_then_a_straggler(tmp_path: Path, serve: Serve, dcmtk: Dcmtk) -> None:
    config = write_config(tmp_path / "bridge", quiet_period=2.0, listener={"allowed_calling_aets": ["CT01"]})
    server = serve(config)
    peer = ["-aec", AE_TITLE, "-aet", "CT01"]
    address = ["127.0.0.1", str(server.port)]

    echo = dcmtk.run("echoscu", *peer, *address)
    assert echo.returncode == 0, echo.stdout + echo.stderr
    for tool, args in (("echoscu", ()), ("storescu", (str(CT_CHEST / "series-1" / "IM0001.dcm"),))):
        refused = dcmtk.run(tool, "-aec", AE_TITLE, "-aet", "OTHER", *address, *args)
        assert refused.returncode != 0, f"{tool} -aet OTHER was accepted"
        assert "Association Rejected" in refused.stderr, refused.stderr
        assert "Calling AE Title Not Recognized" in refused.stderr, refused.stderr
    assert "refused association from OTHER" in server.log()

    study_uid = study_instance_uid(CT_CHEST / "series-1" / "IM0001.dcm")
    report_uid = sop_instance_uid(CT_CHEST / "report" / "SR0001.dcm")
    rest = sorted(str(p) for p in CT_CHEST.iterdir() if p.name != "series-1")
    folders = ("dose", "key-images", "measurements", "pdf", "report", "series-2")
    assert rest == [str(CT_CHEST / name) for name in folders]
    # -R: propose the SOP classes of the files sent; the default list of storescu lacks Comprehensive 3D SR
    for folders in ([str(CT_CHEST / "series-1")], rest):  # two associations
        sent = dcmtk.run("storescu", *peer, "+sd", "+r", "-R", *address, *folders)
        assert sent.returncode == 0, sent.stdout + sent.stderr

    first = wait_sealed(config, study_uid, 1, 25)
    expected = {sop_instance_uid(p) for p in CT_CHEST.rglob("*.dcm")}
    assert len(expected) == 25 and set(instance_uids(first)) == expected
    rows = query(config.state_db, "SELECT sop_instance_uid, state, calling_ae FROM instances")
    assert {(uid, state, ae) for uid, state, ae in rows} == {(uid, "parsed", "CT01") for uid in expected}
    report = config.study_folder(study_uid) / f"report-{report_uid}.json"
    bundle = json.loads(report.read_text(encoding="utf-8"))
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "document")
    assert (config.study_folder(study_uid) / "Patient.json").is_file()

    straggler = dcmread(CT_CHEST / "series-1" / "IM0001.dcm")
    straggler.SOPInstanceUID = straggler.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    straggler.InstanceNumber = 11
    straggler_path = tmp_path / "straggler" / "IM0011.dcm"
    straggler_path.parent.mkdir()
    straggler.save_as(straggler_path, enforce_file_format=True)
    sent = dcmtk.run("storescu", *peer, *address, str(straggler_path))
    assert sent.returncode == 0, sent.stdout + sent.stderr

    second = wait_sealed(config, study_uid, 2, 26)
    assert second["id"] == first["id"]
    assert set(instance_uids(second)) == expected | {straggler.SOPInstanceUID}
    assert query(config.state_db, "SELECT study_instance_uid, state, revision FROM studies") == [
        (study_uid, "sealed", 2)
    ]


# ------------------------------------------------------------------------------------------------ 3. TLS


def client_context(tls: TlsFiles, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    if with_certificate:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    return context


def tls_config(root: Path, tls_files: TlsFiles, processes: int = 1) -> ServeConfig:
    tls = {"enabled": True, "cert_file": tls_files.server_cert, "key_file": tls_files.server_key,
           "ca_file": tls_files.ca, "require_client_cert": True}
    return write_config(root, listener={"tls": tls, "processes": processes})


@pytest.mark.parametrize("processes", [1, 2], ids=["one-listener", "two-listener-processes"])
def test_tls_listener_requires_a_client_certificate(
    tmp_path: Path, serve: Serve, tls_files: TlsFiles, processes: int
) -> None:
    config = tls_config(tmp_path / "bridge", tls_files, processes)
    server = serve(config)
    assert "(TLS)" in server.log()
    path = CT_CHEST / "series-1" / "IM0001.dcm"

    assoc = associate(server.port, tls_args=(client_context(tls_files), "127.0.0.1"))
    assert assoc.is_established
    try:
        echo = assoc.send_c_echo()
        assert int(echo.Status) == SUCCESS
        stored = assoc.send_c_store(path)
        assert int(stored.Status) == SUCCESS
    finally:
        assoc.release()
    rows = query(config.state_db, "SELECT sop_instance_uid, calling_ae FROM instances")
    assert rows == [(sop_instance_uid(path), "CT01")]

    plain = associate(server.port)
    assert not plain.is_established
    close_transport(plain)
    anonymous = associate(server.port, tls_args=(client_context(tls_files, with_certificate=False), "127.0.0.1"))
    assert not anonymous.is_established
    close_transport(anonymous)

    again = associate(server.port, tls_args=(client_context(tls_files), "127.0.0.1"))
    assert again.is_established, "the listener still accepts TLS clients after refusing two"
    try:
        assert int(again.send_c_echo().Status) == SUCCESS
    finally:
        again.release()
    assert query(config.state_db, "SELECT count(*) FROM instances") == [(1,)]


def test_dcmtk_echoscu_over_tls(tmp_path: Path, serve: Serve, tls_files: TlsFiles, dcmtk: Dcmtk) -> None:
    if not dcmtk.supports_tls():
        pytest.skip("this DCMTK echoscu is built without TLS (no +tls in echoscu --help)")
    server = serve(tls_config(tmp_path / "bridge", tls_files))
    peer = ["-aec", AE_TITLE, "-aet", "CT01", "127.0.0.1", str(server.port)]
    keys = ["+tls", str(tls_files.client_key), str(tls_files.client_cert), "+cf", str(tls_files.ca)]
    echo_tls = dcmtk.run("echoscu", *keys, *peer)
    assert echo_tls.returncode == 0, echo_tls.stdout + echo_tls.stderr
    echo_anonymous = dcmtk.run("echoscu", "+tla", "+cf", str(tls_files.ca), *peer)
    assert echo_anonymous.returncode != 0, "a TLS client without a certificate was accepted"
    echo_plain = dcmtk.run("echoscu", *peer, timeout=30)
    assert echo_plain.returncode != 0, "a plain TCP client was accepted"


def test_a_silent_connection_does_not_block_tls_associations(
    tmp_path: Path, serve: Serve, tls_files: TlsFiles
) -> None:
    server = serve(tls_config(tmp_path / "bridge", tls_files))
    outcome: list[object] = []

    def echo() -> None:
        try:
            assoc = associate(server.port, tls_args=(client_context(tls_files), "127.0.0.1"))
            if assoc.is_established:
                outcome.append(int(assoc.send_c_echo().Status))
                assoc.release()
            else:
                outcome.append("not established")
                close_transport(assoc)
        except Exception as exc:  # reported by the assertion below, not as an unhandled thread exception
            outcome.append(exc)

    thread = threading.Thread(target=echo, name="tls-echo")
    with socket.create_connection(("127.0.0.1", server.port)):  # connects, never says anything
        thread.start()
        thread.join(3)
        during = list(outcome)
    thread.join(SEAL_TIMEOUT)  # the silent connection is closed: the handshake goes ahead
    assert not thread.is_alive()
    assert during == [SUCCESS], f"no C-ECHO over TLS within 3 s while a silent connection is open: {during}"


# ------------------------------------------------------------------------------------------------ 4. graceful stop


def test_sigterm_stops_gracefully_and_a_restart_resumes(tmp_path: Path, serve: Serve) -> None:
    files = write_ct_study(tmp_path / "src", n_series=2, per_series=5, seed="stop", rows=8, columns=8)
    uids = {sop_instance_uid(p) for p in files}
    study_uid = study_instance_uid(files[0])
    config = write_config(tmp_path / "bridge", quiet_period=5.0)  # long enough to stop before the study seals

    server = serve(config)
    statuses, _ = c_store_all(server.port, files)
    assert statuses == dict.fromkeys(files, SUCCESS)
    wait_for(lambda: query(config.state_db, "SELECT count(*) FROM instances WHERE state = 'parsed'") == [(10,)],
             "every instance to be parsed", SEAL_TIMEOUT)

    assert server.stop(signal.SIGTERM) == 0
    log = server.log()
    assert "received SIGTERM, stopping" in log and "service stopped" in log, log
    assert server.leftover_workers() == []
    assert study_row(config.state_db, study_uid) == ("open", 0), "the study sealed before the stop: too slow"
    rows = query(config.state_db, "SELECT sop_instance_uid, study_instance_uid, state FROM instances")
    assert {(uid, study, state) for uid, study, state in rows} == {(uid, study_uid, "parsed") for uid in uids}
    assert imaging_study(config, study_uid) is None

    restarted = serve(config)
    assert "0 instances to parse, 1 studies open" in restarted.log()
    study = wait_sealed(config, study_uid, 1, 10)
    assert set(instance_uids(study)) == uids
    assert restarted.stop(signal.SIGINT) == 0
