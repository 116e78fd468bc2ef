"""Certificate mode: the simulator acts as Alipay's CA and as the gateway that checks the serial numbers.

The CA (made on first use, kept in STATE_DIR/ca/ when there is a state dir):
- a root bundle like the real `alipayRootCert.crt`: more than one root, one of them not RSA
  (an EC P-384 root signed with ecdsa-with-SHA384 stands in for the real bundle's SM2/ECC roots,
  which `cryptography` cannot make): RSA root R1, EC root E1, RSA root G3, in that file order;
- an intermediate "Class 2 R1" under R1 that signs the app certificates and the Alipay certificates
  (certificate files hold the leaf first, then the intermediate, like the console's downloads);
- the Alipay public-key certificates: the newest signs replies; rotation adds one (new key, new
  serial) and older ones stay downloadable (`alipay.open.app.alipaycert.download`).

The certificates (public) live in the `alipay_certs` table so the download handler reads them in its
transaction; the private keys are files (0600) or memory."""

from __future__ import annotations

import base64
import datetime
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import certs
from .chinatime import utc_now
from .errors import ApiError
from .keys import generate_private_key, private_pem
from .state import Store

CA_DIR = "ca"
APPS_DIR = "apps"
ROOT_BUNDLE_FILE = "alipayRootCert.crt"
ALIPAY_CERT_FILE = "alipayCertPublicKey_RSA2.crt"
APP_ID_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,32}", re.ASCII)  # it names files: no path characters
ORGANIZATION = "POS Agent Simulator"
MERCHANT_PID = "2088000000000000"

SCHEMA = """
CREATE TABLE IF NOT EXISTS alipay_certs (
    sn TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, content TEXT NOT NULL, created REAL NOT NULL);
"""


def app_cert_file_name(app_id: str) -> str:
    return f"appCertPublicKey_{app_id}.crt"


def cert_content(file_text: str) -> str:
    """`alipay_cert_content` of the download API: Base64 of the certificate file's PEM text."""
    return base64.b64encode(file_text.encode("ascii")).decode("ascii")


@dataclass(frozen=True)
class AlipayCert:
    sn: str
    key: rsa.RSAPrivateKey
    file_text: str  # leaf + intermediate, PEM: what alipayCertPublicKey_RSA2.crt holds


@dataclass(frozen=True)
class AppCert:
    sn: str
    cert: x509.Certificate
    file_text: str

    @property
    def key(self) -> rsa.RSAPublicKey:
        key = self.cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):  # only from a hand-edited state dir: we issue RSA only
            raise ValueError("the app certificate does not hold an RSA key")
        return key


@dataclass(frozen=True)
class CertFiles:
    """What the console gives a merchant after registering an app in certificate mode."""

    app_id: str
    app_cert_sn: str
    alipay_cert_sn: str
    alipay_root_cert_sn: str
    files: Mapping[str, str]

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = directory / name
            path.write_text(text)
            written.append(path)
        return written

    def to_dict(self) -> dict[str, object]:
        return {
            "app_id": self.app_id,
            "app_cert_sn": self.app_cert_sn,
            "alipay_cert_sn": self.alipay_cert_sn,
            "alipay_root_cert_sn": self.alipay_root_cert_sn,
            "files": dict(self.files),
        }


class CertMode:
    def __init__(self, store: Store, state_dir: Path | None = None, *, clock: Callable[[], float] = utc_now) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self._lock = threading.RLock()
        self._apps: dict[str, AppCert] = {}
        self._intermediate: certs.Issuer | None = None
        self._bundle: list[x509.Certificate] = []
        self._root_sn = ""
        self._alipay: AlipayCert | None = None
        with store.transaction() as db:
            db.execute(SCHEMA)

    # -- the CA ------------------------------------------------------------------------------------
    def root_bundle_pem(self) -> str:
        self._ensure_ca()
        return certs.chain_pem(self._bundle)

    def root_cert_sn(self) -> str:
        self._ensure_ca()
        return self._root_sn

    def current_alipay_cert(self) -> AlipayCert:
        self._ensure_ca()
        assert self._alipay is not None
        return self._alipay

    def alipay_cert_sns(self) -> list[str]:
        with self.store.reading() as db:
            return [str(row["sn"]) for row in db.execute("SELECT sn FROM alipay_certs ORDER BY seq")]

    def rotate(self) -> AlipayCert:
        """A new Alipay certificate (new key, new serial) under the same CA; replies use it from now on."""
        with self._lock:
            self._ensure_ca()
            self._alipay = self._new_alipay_cert()
            return self._alipay

    # -- apps --------------------------------------------------------------------------------------
    def register(self, app_id: str, csr_pem: str | bytes) -> CertFiles:
        """Issue the app's certificate from its CSR (the CSR's public key, our subject) and hand out the three files."""
        if not APP_ID_PATTERN.fullmatch(app_id or ""):
            raise ValueError("app_id must be 1-32 letters, digits, '_' or '-'")
        csr = certs.parse_csr(csr_pem)
        with self._lock:
            self._ensure_ca()
            assert self._intermediate is not None and self._alipay is not None
            organization = _attribute(csr.subject, x509.oid.NameOID.ORGANIZATION_NAME) or "Simulated Merchant"
            subject = certs.dn(f"{MERCHANT_PID}-{app_id}", "Alipay", organization[:64])
            public_key = csr.public_key()
            assert isinstance(public_key, rsa.RSAPublicKey)  # parse_csr checked
            cert = certs.issue(self._intermediate, subject, public_key, self._now())
            app = AppCert(certs.cert_sn(cert), cert, certs.chain_pem([cert, self._intermediate.cert]))
            self._apps[app_id] = app
            self._save_app(app_id, app)
            return CertFiles(
                app_id=app_id,
                app_cert_sn=app.sn,
                alipay_cert_sn=self._alipay.sn,
                alipay_root_cert_sn=self._root_sn,
                files={
                    app_cert_file_name(app_id): app.file_text,
                    ALIPAY_CERT_FILE: self._alipay.file_text,
                    ROOT_BUNDLE_FILE: certs.chain_pem(self._bundle),
                },
            )

    def forget(self, app_id: str) -> None:
        """The app was registered again in public-key mode (GatewaySimulator.register_app also drops its saved .crt)."""
        with self._lock:
            self._apps.pop(app_id, None)

    def app_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._apps)

    def app_key(self, app_id: str) -> rsa.RSAPublicKey | None:
        with self._lock:
            app = self._apps.get(app_id)
        return app.key if app is not None else None

    def load_apps(self) -> None:
        """Cert-mode apps saved in STATE_DIR/apps/APP_ID.crt (the CA is loaded with them)."""
        if self.state_dir is None:
            return
        for path in sorted((self.state_dir / APPS_DIR).glob("*.crt")):
            try:
                chain = certs.load_chain(path.read_bytes())
                app = AppCert(certs.cert_sn(chain[0]), chain[0], path.read_text())
                app.key  # noqa: B018  (an RSA key, checked now: a bad file fails at start, named)
            except ValueError:
                raise ValueError(f"{path} is not a PEM certificate file with an RSA key") from None
            with self._lock:
                self._ensure_ca()
                self._apps[path.stem] = app

    # -- per request -------------------------------------------------------------------------------
    def check(self, app_id: str, params: Mapping[str, str]) -> None:
        """For a cert-mode app: both serial numbers present and current, app certificate valid now."""
        with self._lock:
            app = self._apps.get(app_id)
        if app is None:
            return
        app_sn, root_sn = params.get("app_cert_sn", ""), params.get("alipay_root_cert_sn", "")
        if not app_sn:
            raise ApiError("40002", "isv.missing-app-cert-sn", "缺少应用公钥证书序列号")
        if not root_sn:
            raise ApiError("40002", "isv.missing-alipay-root-cert-sn", "缺少支付宝根证书序列号")
        if root_sn != self.root_cert_sn():
            raise ApiError("40002", "isv.invalid-alipay-root-cert-sn", "无效的支付宝根证书序列号")
        if app_sn != app.sn:
            raise ApiError("40002", "isv.app-cert-not-exist", "应用公钥证书不存在")
        now = self._now()
        if not app.cert.not_valid_before_utc <= now <= app.cert.not_valid_after_utc:
            raise ApiError("40002", "isv.app-cert-expired", "应用公钥证书已过期")

    def reply_signer(self, app_id: str) -> AlipayCert | None:
        """The Alipay certificate that signs replies to a cert-mode app (None: public-key mode)."""
        with self._lock:
            if app_id not in self._apps:
                return None
            return self.current_alipay_cert()

    # -- internals ---------------------------------------------------------------------------------
    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)

    def _ensure_ca(self) -> None:
        with self._lock:
            if self._intermediate is not None:
                return
            if self.state_dir is not None and (self.state_dir / CA_DIR / "intermediate.key").exists():
                self._load_ca(self.state_dir / CA_DIR)
            else:
                self._create_ca()
            self._root_sn = certs.root_cert_sn(self._bundle)

    def _create_ca(self) -> None:
        now = self._now()
        r1_key, g3_key = generate_private_key(), generate_private_key()
        e1_key = ec.generate_private_key(ec.SECP384R1())
        r1 = certs.self_signed_root(
            certs.dn("Simulated Certification Authority R1", "Certification Authority", ORGANIZATION), r1_key, now
        )
        e1 = certs.self_signed_root(
            certs.dn("Simulated Certification Authority E1", "Certification Authority", ORGANIZATION), e1_key, now
        )
        g3 = certs.self_signed_root(
            certs.dn("Simulated Class 2 Root CA - G3", "Simulated Trust Network", ORGANIZATION), g3_key, now
        )
        intermediate_key = generate_private_key()
        intermediate = certs.issue(
            certs.Issuer(r1, r1_key),
            certs.dn("Simulated Certification Authority Class 2 R1", "Certification Authority", ORGANIZATION),
            intermediate_key.public_key(),
            now,
            ca=True,
            lifetime=certs.CA_LIFETIME - certs.BACKDATE,
        )
        self._bundle = [r1, e1, g3]
        self._intermediate = certs.Issuer(intermediate, intermediate_key)
        if self.state_dir is not None:
            ca_dir = self.state_dir / CA_DIR
            (ca_dir / "alipay").mkdir(parents=True, exist_ok=True)
            (ca_dir / ROOT_BUNDLE_FILE).write_text(certs.chain_pem(self._bundle))
            (ca_dir / "intermediate.crt").write_text(certs.chain_pem([intermediate]))
            _write_secret(ca_dir / "intermediate.key", private_pem(intermediate_key))  # last: marks the CA complete
        self._alipay = self._new_alipay_cert()

    def _load_ca(self, ca_dir: Path) -> None:
        key = serialization.load_pem_private_key((ca_dir / "intermediate.key").read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{ca_dir / 'intermediate.key'} is not an RSA private key")
        self._intermediate = certs.Issuer(certs.load_chain((ca_dir / "intermediate.crt").read_bytes())[0], key)
        self._bundle = certs.load_chain((ca_dir / ROOT_BUNDLE_FILE).read_bytes())
        with self.store.reading() as db:
            row = db.execute("SELECT sn, content FROM alipay_certs ORDER BY seq DESC LIMIT 1").fetchone()
        key_path = ca_dir / "alipay" / f"{row['sn']}.key" if row is not None else None
        if row is None or key_path is None or not key_path.exists():
            self._alipay = self._new_alipay_cert()
            return
        alipay_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(alipay_key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA private key")
        self._alipay = AlipayCert(str(row["sn"]), alipay_key, str(row["content"]))

    def _new_alipay_cert(self) -> AlipayCert:
        assert self._intermediate is not None
        key = generate_private_key()
        subject = certs.dn(f"Simulated Alipay-{MERCHANT_PID}", "Alipay", ORGANIZATION)
        cert = certs.issue(self._intermediate, subject, key.public_key(), self._now())
        alipay = AlipayCert(certs.cert_sn(cert), key, certs.chain_pem([cert, self._intermediate.cert]))
        if self.state_dir is not None:
            key_dir = self.state_dir / CA_DIR / "alipay"
            key_dir.mkdir(parents=True, exist_ok=True)
            _write_secret(key_dir / f"{alipay.sn}.key", private_pem(key))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO alipay_certs (sn, seq, content, created)"
                " VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM alipay_certs), ?, ?)",
                (alipay.sn, alipay.file_text, self.clock()),
            )
        return alipay

    def _save_app(self, app_id: str, app: AppCert) -> None:
        if self.state_dir is None:
            return
        apps_dir = self.state_dir / APPS_DIR
        apps_dir.mkdir(parents=True, exist_ok=True)
        (apps_dir / f"{app_id}.crt").write_text(app.file_text)
        (apps_dir / f"{app_id}.pem").unlink(missing_ok=True)  # one mode per app: the certificate wins


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else ""


def _write_secret(path: Path, data: bytes) -> None:
    # Created 0600 from the start: never a window where a private key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
