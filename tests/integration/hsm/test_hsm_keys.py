"""Keys generated on the token stay there, and work."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import cmac, hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    AttributeSensitive,
    EncryptedDataInvalid,
    GeneralError,
    KeyUnextractable,
)
from pkcs11.mechanisms import GCMParams

from hsm.ecdsa import public_key_der, public_point, sign_sha256, verify_sha256
from hsm.errors import DuplicateKey, KeyNotFound, KeyUsageError
from hsm.keys import (
    KeyKind,
    find_key,
    generate_aes_key,
    generate_ec_keypair,
    generate_hmac_key,
    import_aes_key_for_test,
    import_hmac_key_for_test,
    kcv,
    key_attributes,
)

PROTECTED = {
    "token": True,
    "private": True,
    "local": True,
    "sensitive": True,
    "always_sensitive": True,
    "extractable": False,
    "never_extractable": True,
}


# A failed GCM tag check is CKR_ENCRYPTED_DATA_INVALID per PKCS#11, but
# SoftHSM 2.6.1 reports CKR_GENERAL_ERROR.
GCM_AUTH_FAILURE = (EncryptedDataInvalid, GeneralError)


def gcm(nonce: bytes, aad: bytes) -> dict:
    return {"mechanism": Mechanism.AES_GCM, "mechanism_param": GCMParams(nonce, aad)}


# -- AES ----------------------------------------------------------------------


def test_aes_key_is_generated_on_token_and_never_leaves(hsm, hsm_label):
    with hsm.session() as session:
        key = generate_aes_key(session, hsm_label, "kek:v1")
        attributes = key_attributes(key)
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]

    assert attributes.items() >= PROTECTED.items()
    assert attributes["key_type"] == "AES" and attributes["bits"] == 256
    assert attributes["label"] == hsm_label and attributes["id"] == b"kek:v1".hex()
    usage = {"encrypt": True, "decrypt": True, "wrap": True, "unwrap": True,
             "sign": False, "verify": False, "derive": False}
    assert attributes.items() >= usage.items()


def test_aes_gcm_round_trips_and_rejects_tampering(hsm, hsm_label):
    nonce, aad, plaintext = os.urandom(12), b"card:42", b"4111111111111111"
    with hsm.session() as session:
        key = generate_aes_key(session, hsm_label)
        ciphertext = key.encrypt(plaintext, **gcm(nonce, aad))
        assert key.decrypt(ciphertext, **gcm(nonce, aad)) == plaintext
        tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        with pytest.raises(GCM_AUTH_FAILURE):
            key.decrypt(tampered, **gcm(nonce, aad))
        with pytest.raises(GCM_AUTH_FAILURE):
            key.decrypt(ciphertext, **gcm(nonce, b"card:43"))
        assert key.decrypt(ciphertext, **gcm(nonce, aad)) == plaintext  # session still fine
    assert len(ciphertext) == len(plaintext) + 16 and plaintext not in ciphertext


def test_aes_gcm_on_token_matches_cryptography(hsm, hsm_label):
    value, nonce, aad = os.urandom(32), os.urandom(12), b"aad"
    with hsm.session() as session:
        key = import_aes_key_for_test(session, value, hsm_label)
        ciphertext = key.encrypt(b"hello", **gcm(nonce, aad))
    assert AESGCM(value).decrypt(nonce, ciphertext, aad) == b"hello"


def test_generated_kek_cannot_be_wrapped_out(hsm, hsm_label):
    with hsm.session() as session:
        kek = generate_aes_key(session, hsm_label)
        other = generate_aes_key(session, hsm_label + ":other")
        with pytest.raises(KeyUnextractable):
            other.wrap_key(kek, mechanism=Mechanism.AES_KEY_WRAP_PAD)


def test_data_key_wrap_with_pad_is_rfc5649(hsm, hsm_label):
    kek_value, data_key_value = os.urandom(32), os.urandom(32)
    with hsm.session() as session:
        kek = import_aes_key_for_test(session, kek_value, hsm_label)
        data_key = session.create_object({
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: data_key_value,
            Attribute.TOKEN: False,
            Attribute.EXTRACTABLE: True,
            Attribute.ENCRYPT: True,
        })
        wrapped = kek.wrap_key(data_key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        unwrapped = kek.unwrap_key(
            ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
            mechanism=Mechanism.AES_KEY_WRAP_PAD,
            template={Attribute.TOKEN: False, Attribute.SENSITIVE: True, Attribute.ENCRYPT: True},
        )
        assert kcv(unwrapped) == kcv(data_key)
    assert wrapped == keywrap.aes_key_wrap_with_padding(kek_value, data_key_value)


# -- key check values -----------------------------------------------------------


def test_aes_kcv_matches_cryptography(hsm, hsm_label):
    value = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    encryptor = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    expected = (encryptor.update(bytes(16)) + encryptor.finalize())[:3].hex().upper()
    with hsm.session() as session:
        result = kcv(import_aes_key_for_test(session, value, hsm_label))
    assert result.value == expected and result.algorithm == "AES-ECB-ZERO-BLOCK"


def test_hmac_kcv_matches_stdlib(hsm, hsm_label):
    value = os.urandom(32)
    expected = hmac.new(value, bytes(16), hashlib.sha256).digest()[:3].hex().upper()
    with hsm.session() as session:
        result = kcv(import_hmac_key_for_test(session, value, hsm_label))
    assert result == (expected, "HMAC-SHA256-ZERO-BLOCK")


def test_aes_kcv_of_a_mac_only_key_is_cmac(hsm, hsm_label):
    value = os.urandom(32)
    mac = cmac.CMAC(algorithms.AES(value))
    mac.update(bytes(16))
    with hsm.session() as session:
        key = session.create_object({
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: value,
            Attribute.TOKEN: False,
            Attribute.ENCRYPT: False,
            Attribute.SIGN: True,
        })
        result = kcv(key)
    assert result == (mac.finalize()[:3].hex().upper(), "AES-CMAC")


def test_no_kcv_for_keys_that_cannot_compute_one(hsm, hsm_label):
    with hsm.session() as session:
        _, private = generate_ec_keypair(session, hsm_label)
        with pytest.raises(KeyUsageError, match="EC"):
            kcv(private)


def test_imported_keys_are_not_local(hsm, hsm_label):
    with hsm.session() as session:
        attributes = key_attributes(import_aes_key_for_test(session, os.urandom(32), hsm_label))
    assert attributes["local"] is False and attributes["token"] is False
    assert attributes["sensitive"] and not attributes["extractable"]


def test_kcv_of_generated_key_is_stable(hsm, hsm_label):
    with hsm.session() as session:
        key = generate_aes_key(session, hsm_label)
        first, again = kcv(key), kcv(find_key(session, hsm_label, KeyKind.AES))
    assert first == again and len(first.value) == 6


# -- HMAC -------------------------------------------------------------------------


def test_hmac_sha256_is_deterministic_and_keyed(hsm, hsm_label):
    with hsm.session() as session:
        key = generate_hmac_key(session, hsm_label)
        other = generate_hmac_key(session, hsm_label + ":other")
        mac = key.sign(b"4111111111111111", mechanism=Mechanism.SHA256_HMAC)
        assert key.sign(b"4111111111111111", mechanism=Mechanism.SHA256_HMAC) == mac
        assert key.sign(b"4111111111111112", mechanism=Mechanism.SHA256_HMAC) != mac
        assert other.sign(b"4111111111111111", mechanism=Mechanism.SHA256_HMAC) != mac
        assert key.verify(b"4111111111111111", mac, mechanism=Mechanism.SHA256_HMAC)
        attributes = key_attributes(key)
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
    assert len(mac) == 32
    assert attributes.items() >= PROTECTED.items()
    assert attributes["key_type"] == "GENERIC_SECRET" and attributes["bits"] == 256
    assert attributes["sign"] and attributes["verify"]
    assert not (attributes["encrypt"] or attributes["decrypt"] or attributes["wrap"])


def test_hmac_on_token_matches_stdlib(hsm, hsm_label):
    value = os.urandom(32)
    with hsm.session() as session:
        key = import_hmac_key_for_test(session, value, hsm_label)
        mac = key.sign(b"data", mechanism=Mechanism.SHA256_HMAC)
    assert mac == hmac.new(value, b"data", hashlib.sha256).digest()


# -- EC -----------------------------------------------------------------------------


def test_ec_p256_sign_verify_and_export(hsm, hsm_label):
    with hsm.session() as session:
        generate_ec_keypair(session, hsm_label)
        private = find_key(session, hsm_label, KeyKind.EC_PRIVATE)
        public = find_key(session, hsm_label, KeyKind.EC_PUBLIC)
        signature = sign_sha256(private, b"statement")
        assert verify_sha256(public, b"statement", signature)
        assert not verify_sha256(public, b"statement!", signature)
        der, point = public_key_der(public), public_point(public)
        private_attributes, public_attributes = key_attributes(private), key_attributes(public)
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]

    exported = load_der_public_key(der)
    assert isinstance(exported, ec.EllipticCurvePublicKey)
    assert isinstance(exported.curve, ec.SECP256R1)
    exported.verify(signature, b"statement", ec.ECDSA(hashes.SHA256()))  # raises if invalid
    from_point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    assert from_point.public_numbers() == exported.public_numbers()

    assert private_attributes.items() >= PROTECTED.items()
    assert private_attributes["curve"] == "P-256" and private_attributes["sign"]
    assert not (private_attributes["decrypt"] or private_attributes["derive"])
    assert public_attributes["verify"] and not public_attributes["encrypt"]


def test_signature_by_cryptography_verifies_on_token(hsm, hsm_label):
    with hsm.session() as session:
        public, _ = generate_ec_keypair(session, hsm_label)
        der = public_key_der(public)
        other = ec.generate_private_key(ec.SECP256R1())
        foreign = other.sign(b"x", ec.ECDSA(hashes.SHA256()))
        assert not verify_sha256(public, b"x", foreign)
        assert not verify_sha256(public, b"x", b"not DER")
    assert load_der_public_key(der)


# -- lookup -------------------------------------------------------------------------


def test_find_key_by_label_and_kind(hsm, hsm_label):
    with hsm.session() as session:
        generate_aes_key(session, hsm_label)
        assert key_attributes(find_key(session, hsm_label, KeyKind.AES))["label"] == hsm_label
        with pytest.raises(KeyNotFound, match="HMAC"):
            find_key(session, hsm_label, KeyKind.HMAC)
        with pytest.raises(KeyNotFound):
            find_key(session, hsm_label + ":absent", KeyKind.AES)


def test_labels_are_unique(hsm, hsm_label):
    with hsm.session() as session:
        generate_hmac_key(session, hsm_label)
        with pytest.raises(DuplicateKey):
            generate_aes_key(session, hsm_label)
        with pytest.raises(DuplicateKey):
            generate_ec_keypair(session, hsm_label)
