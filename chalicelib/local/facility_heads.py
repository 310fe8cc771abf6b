"""Stands in for facility heads on a local stack (tests, benchmarks): each facility gets a
certificate from a dev government CA, opens a signing batch of its verified people and submits
its signature, exactly as `facility sign` and the signing routes do."""
from __future__ import annotations


def attest_facilities(container, facilities, now, *, limit: int = 10000):
    """What facility heads do: each facility (id, province) gets a certificate from a dev
    government CA, opens a signing batch of its verified people and submits its signature; the
    attested chunks land in the countersign queue. Returns {facility_id: manifest}."""
    import base64
    import secrets
    from datetime import timedelta

    from chalicelib.signing import facility_pki as pki
    from chalicelib.signing.manifest import manifest_message
    from chalicelib.signing.service import NothingToSign

    ca_key = pki.generate_key()
    ca = pki.issue_government_ca(ca_key, now=now - timedelta(days=1), valid_days=30, random_bytes=secrets.token_bytes)
    container.facilities.register_ca(pki.pem(ca), now=now)
    manifests = {}
    for facility_id, province in facilities:
        key = pki.generate_key()
        cert = pki.issue_signer_certificate(key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=facility_id,
                                            name=facility_id, now=now - timedelta(hours=1), valid_days=30,
                                            random_bytes=secrets.token_bytes, province=province)
        container.facilities.register_facility(facility_id=facility_id, name=facility_id, province=province,
                                               head="BS. Test", certificate_pem=pki.pem(cert), now=now)
        try:
            manifest = container.signing.create_batch(facility_id, limit=limit, now=now)
        except NothingToSign:
            continue
        signature, alg = pki.sign(key, manifest_message(manifest))
        container.signing.submit_signature(manifest["batch_id"], signature_b64=base64.b64encode(signature).decode(),
                                           algorithm=alg, signer_id=facility_id, certificate_pem=pki.pem(cert),
                                           now=now)
        manifests[facility_id] = manifest
    return manifests
