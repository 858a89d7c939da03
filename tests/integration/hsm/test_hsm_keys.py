"""Keys generated on the token stay there, and work."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import cmac, keywrap
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    AttributeSensitive,
    EncryptedDataInvalid,
    GeneralError,
    KeyUnextractable,
)
from pkcs11.mechanisms import GCMParams

from hsm.backup import restore_backup, wrap_for_backup
from hsm.eddsa import public_key_bytes, sign
from hsm.errors import BackupInvalid, DuplicateKey, KeyNotFound, KeyUsageError
from hsm.keys import (
    KeyKind,
    destroy_keys,
    find_key,
    generate_aes_key,
    generate_ed25519_keypair,
    generate_hmac_key,
    import_aes_key_for_test,
    import_hmac_key_for_test,
    kcv,
    key_attributes,
    seal,
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
        _, private = generate_ed25519_keypair(session, hsm_label)
        with pytest.raises(KeyUsageError, match="EC_EDWARDS"):
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


# -- Ed25519 ------------------------------------------------------------------------


def test_ed25519_signs_on_token_and_verifies_with_cryptography(hsm, hsm_label):
    with hsm.session() as session:
        generate_ed25519_keypair(session, hsm_label)
        private = find_key(session, hsm_label, KeyKind.ED25519_PRIVATE)
        public = find_key(session, hsm_label, KeyKind.ED25519_PUBLIC)
        signature = sign(private, b"statement")
        raw = public_key_bytes(public)
        private_attributes, public_attributes = key_attributes(private), key_attributes(public)
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]

    verifier = Ed25519PublicKey.from_public_bytes(raw)
    verifier.verify(signature, b"statement")  # raises if invalid
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, b"statement!")
    assert len(signature) == 64 and len(raw) == 32
    assert private_attributes.items() >= PROTECTED.items()
    assert private_attributes["curve"] == "Ed25519" and private_attributes["sign"]
    assert not (private_attributes["decrypt"] or private_attributes["derive"])
    assert public_attributes["verify"] and not public_attributes["encrypt"]


def test_ed25519_signatures_are_deterministic_and_keyed(hsm, hsm_label):
    with hsm.session() as session:
        public, private = generate_ed25519_keypair(session, hsm_label)
        _, other = generate_ed25519_keypair(session, hsm_label + ":other")
        assert sign(private, b"x") == sign(private, b"x") != sign(other, b"x")
        raw = public_key_bytes(public)
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(raw).verify(Ed25519PrivateKey.generate().sign(b"x"), b"x")


# -- backups ---------------------------------------------------------------------------


def test_backup_capable_key_wraps_once_then_seals(hsm, hsm_label):
    transport = os.urandom(32)
    with hsm.session() as session:
        key = generate_aes_key(session, hsm_label, backup=True)
        before = key_attributes(key)
        wrapped = wrap_for_backup(session, key, transport)
        seal(key)
        after = key_attributes(key)
        with pytest.raises(KeyUsageError, match="not extractable"):
            wrap_for_backup(session, key, transport)
        original_kcv = kcv(key)
    assert before["extractable"] and before["local"] and before["always_sensitive"]
    assert not after["extractable"] and not after["never_extractable"] and after["sensitive"]
    # RFC 5649: the backup opens with any implementation given the transport key.
    value = keywrap.aes_key_unwrap_with_padding(transport, wrapped)
    encryptor = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    assert encryptor.update(bytes(16))[:3].hex().upper() == original_kcv.value


def test_restored_backup_matches_the_original_and_is_not_local(hsm, hsm_label):
    transport = os.urandom(32)
    with hsm.session() as session:
        key = generate_hmac_key(session, hsm_label, backup=True)
        wrapped = wrap_for_backup(session, key, transport)
        seal(key)
        original = kcv(key)
        assert destroy_keys(session, hsm_label) == 1
        restored = restore_backup(session, wrapped, transport, KeyKind.HMAC, hsm_label)
        attributes = key_attributes(restored)
        assert kcv(restored) == original
        with pytest.raises(BackupInvalid):  # a wrong transport key never yields a key
            restore_backup(session, wrapped, os.urandom(32), KeyKind.HMAC, hsm_label + ":x")
        tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
        with pytest.raises(BackupInvalid):
            restore_backup(session, tampered, transport, KeyKind.HMAC, hsm_label + ":y")
    assert attributes["sensitive"] and not attributes["extractable"]
    assert attributes["local"] is False and attributes["sign"]


def test_default_keys_refuse_backup(hsm, hsm_label):
    with hsm.session() as session:
        key = generate_aes_key(session, hsm_label)
        with pytest.raises(KeyUsageError, match="not extractable"):
            wrap_for_backup(session, key, os.urandom(32))


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
            generate_ed25519_keypair(session, hsm_label)
