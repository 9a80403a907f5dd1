#!/usr/bin/env python3
"""Known-answer vectors for docs/protocol.md, computed independently of the TypeScript code:
Python's struct, zlib.crc32, hmac and base64 only, straight from the byte layouts in the spec.
Run: python3 docs/vectors/gen_vectors.py > docs/vectors/protocol.json"""
import base64, hashlib, hmac, json, struct, zlib

def frame(payload: bytes) -> bytes:
    n = len(payload)
    return b"\xa5\x5a" + struct.pack("<HH", n, n ^ 0xFFFF) + payload + struct.pack("<I", zlib.crc32(payload))

def msg(t: int, rid: int, body: bytes = b"") -> bytes:
    return struct.pack("<BBH", 1, t, rid) + body

def lb(b: bytes) -> bytes:
    return bytes([len(b)]) + b

key = bytes(range(0x20, 0x40))                       # the test key: 20 21 … 3f
device_id = bytes.fromhex("7cdfa1e0b2c4")
firmware_id = hashlib.sha256(b"efuse-attest test firmware").digest()
host_nonce = bytes(range(0xA0, 0xA0 + 32))
device_nonce = bytes.fromhex("00112233445566778899aabbccddeeff")
state = struct.pack("<BH", 9, 2) + device_id + bytes([0b001]) + firmware_id + lb(b"0.1.0")   # esp32s3 v0.2, hmac only
slot, purpose, key_flags = 0, 8, 0b001                # BLOCK_KEY0, HMAC_UP, read-protected
TAG = b"\x00\xefATTEST"
transcript = (TAG + bytes([1]) + struct.pack("<BH", 9, 2) + device_id + bytes([slot, purpose, key_flags, 0b001])
              + firmware_id + lb(b"0.1.0") + lb(host_nonce) + device_nonce)
mac = hmac.new(key, transcript, hashlib.sha256).digest()
attest_rsp = msg(0x83, 0x1234, bytes([slot, purpose, key_flags]) + state + device_nonce + mac)

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
def pct(text: str) -> str:
    """docs/protocol.md §7.1: unreserved bytes as they are, "*" as %2a, every other byte %XX upper-case."""
    return "".join(chr(b) if b in UNRESERVED else "%2a" if b == 0x2A else "%%%02X" % b for b in text.encode("utf-8"))

def sas(resource: str, expiry: int, key_name: str = "") -> dict:
    to_sign = pct(resource) + "\n" + str(expiry)
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).digest()
    tok = ("SharedAccessSignature sr=" + pct(resource) + "&sig=" + pct(base64.b64encode(sig).decode())
           + ("&skn=" + key_name if key_name else "") + "&se=" + str(expiry))
    return {"key": key.hex(), "resource": resource, "expiry": expiry, "keyName": key_name, "stringToSign": to_sign, "signature": sig.hex(), "token": tok}

resource, expiry = "myhub.azure-devices.net/devices/dev-01", 1700000000
first = sas(resource, expiry)
to_sign, sig, tok = first["stringToSign"], bytes.fromhex(first["signature"]), first["token"]
token_rsp = msg(0x84, 7, struct.pack("<H", len(tok)) + tok.encode())

info_rsp = msg(0x82, 2, state + bytes([6]) + bytes([8, 0b011]) + bytes([0, 0b100]) * 5)
error_rsp = msg(0x7F, 3, struct.pack("<Hi", 7, -1) + lb(b"ESP_FAIL: key block BLOCK_KEY2 purpose is HMAC_DOWN_ALL (5), not HMAC_UP (8)"))

hx = lambda b: b.hex()
print(json.dumps({
    "source": "docs/vectors/gen_vectors.py",
    "crc32": [{"input": hx(b"123456789"), "crc": "cbf43926"}, {"input": "", "crc": "00000000"}],
    "frames": [
        {"name": "PING request id=1 data='hello'", "message": hx(msg(0x01, 1, b"hello")), "frame": hx(frame(msg(0x01, 1, b"hello")))},
        {"name": "INFO request id=2", "message": hx(msg(0x02, 2)), "frame": hx(frame(msg(0x02, 2)))},
        {"name": "ATTEST request id=0x1234 slot=0 nonce=a0..bf", "message": hx(msg(0x03, 0x1234, bytes([0]) + lb(host_nonce))), "frame": hx(frame(msg(0x03, 0x1234, bytes([0]) + lb(host_nonce))))},
        {"name": "TOKEN request id=7", "message": hx(msg(0x04, 7, bytes([0]) + struct.pack("<IH", expiry, len(resource)) + resource.encode() + lb(b""))), "frame": hx(frame(msg(0x04, 7, bytes([0]) + struct.pack("<IH", expiry, len(resource)) + resource.encode() + lb(b""))))},
        {"name": "INFO response id=2", "message": hx(info_rsp), "frame": hx(frame(info_rsp))},
        {"name": "ATTEST response id=0x1234", "message": hx(attest_rsp), "frame": hx(frame(attest_rsp))},
        {"name": "TOKEN response id=7", "message": hx(token_rsp), "frame": hx(frame(token_rsp))},
        {"name": "ERROR response id=3 KEY_PURPOSE ESP_FAIL", "message": hx(error_rsp), "frame": hx(frame(error_rsp))},
    ],
    "attestation": {
        "key": hx(key), "chip": 9, "revision": 2, "deviceId": hx(device_id), "slot": slot, "purpose": purpose,
        "readProtected": True, "writeProtected": False, "hmac": True, "secureBoot": False, "flashEncryption": False,
        "firmwareId": hx(firmware_id), "firmwareVersion": "0.1.0", "hostNonce": hx(host_nonce),
        "deviceNonce": hx(device_nonce), "transcript": hx(transcript), "mac": hx(mac),
    },
    "token": {"key": hx(key), "resource": resource, "expiry": expiry, "stringToSign": to_sign, "signature": hx(sig), "token": tok},
    "tokens": [
        first,
        sas("myhub.azure-devices.net/devices/Dev 1(x)", 1700000000),
        sas("myhub.azure-devices.net/devices/it's*ok!", 4294967295, "device"),
        sas("0ne00000001/registrations/sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6", 1800000000),
        sas("hub/devices/d\u00e9v-\u00fc~_.", 1, "registryRead"),
    ],
}, indent=2))
