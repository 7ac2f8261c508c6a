"""Certificates and keys for a throwaway local cluster: a CA, the API server's serving
certificate, an admin client certificate (O=system:masters) and the service-account signing key."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wallaroo_simulator.tls import ca_builder, certificate_builder, write_private_key

VALIDITY = datetime.timedelta(days=7)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def write_cluster_pki(directory: Path) -> dict[str, Path]:
    """Write every file the control plane needs into `directory`; return their paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_name = _key(), _name("localcluster-ca")
    ca_cert = ca_builder(ca_key, ca_name, VALIDITY, path_length=None).sign(ca_key, hashes.SHA256())

    def issue(
        common_name: str,
        usage: x509.ObjectIdentifier,
        organization: str | None = None,
        sans: list[x509.GeneralName] | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = _key()
        builder = (
            certificate_builder(_name(common_name, organization), ca_name, key.public_key(), VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    serving_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    serving_key, serving_cert = issue("kube-apiserver", ExtendedKeyUsageOID.SERVER_AUTH, sans=serving_sans)
    admin_key, admin_cert = issue("admin", ExtendedKeyUsageOID.CLIENT_AUTH, organization="system:masters")
    # How the API server proves itself to a node's kubelet (logs, exec, port-forward).
    kubelet_client_key, kubelet_client_cert = issue(
        "kube-apiserver-kubelet-client", ExtendedKeyUsageOID.CLIENT_AUTH, organization="system:masters"
    )
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    paths = {
        name: directory / name
        for name in (
            "ca.crt",
            "ca.key",
            "apiserver.crt",
            "apiserver.key",
            "admin.crt",
            "admin.key",
            "kubelet-client.crt",
            "kubelet-client.key",
            "sa.key",
            "sa.pub",
        )
    }
    _write_cert(paths["ca.crt"], ca_cert)
    write_private_key(paths["ca.key"], ca_key)
    _write_cert(paths["apiserver.crt"], serving_cert)
    write_private_key(paths["apiserver.key"], serving_key)
    _write_cert(paths["admin.crt"], admin_cert)
    write_private_key(paths["admin.key"], admin_key)
    _write_cert(paths["kubelet-client.crt"], kubelet_client_cert)
    write_private_key(paths["kubelet-client.key"], kubelet_client_key)
    write_private_key(paths["sa.key"], service_account_key)
    paths["sa.pub"].write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return paths
