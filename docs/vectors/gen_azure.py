#!/usr/bin/env python3
"""Azure IoT vectors for docs/azure.md, computed with Python's standard library only:
the DPS symmetric-key group enrollment derivation (Microsoft's published example) and SAS tokens
signed with the derived key, in the form of docs/protocol.md §7 (the Azure IoT SDK's form).
Run: python3 docs/vectors/gen_azure.py > docs/vectors/azure.json"""
import base64, hashlib, hmac, json

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
def pct(text: str) -> str:
    return "".join(chr(b) if b in UNRESERVED else "%2a" if b == 0x2A else "%%%02X" % b for b in text.encode("utf-8"))

def sas(key: bytes, resource: str, expiry: int, key_name: str = "") -> dict:
    to_sign = pct(resource) + "\n" + str(expiry)
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).digest()
    tok = ("SharedAccessSignature sr=" + pct(resource) + "&sig=" + pct(base64.b64encode(sig).decode())
           + ("&skn=" + key_name if key_name else "") + "&se=" + str(expiry))
    return {"key": key.hex(), "resource": resource, "expiry": expiry, "keyName": key_name, "stringToSign": to_sign, "token": tok}

# Microsoft's example for symmetric-key group enrollment (DPS docs, "How to use symmetric keys").
group_key_b64 = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw=="
registration_id = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6"
device_key = hmac.new(base64.b64decode(group_key_b64), registration_id.encode(), hashlib.sha256).digest()
assert base64.b64encode(device_key).decode() == "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc="

print(json.dumps({
    "source": "docs/vectors/gen_azure.py",
    "dps": {"groupKey": group_key_b64, "registrationId": registration_id, "deviceKey": base64.b64encode(device_key).decode()},
    "sas": [
        sas(device_key, "0ne00000001/registrations/" + registration_id, 1800000000, "registration"),
        sas(device_key, "myhub.azure-devices.net/devices/" + registration_id, 1800000000),
        sas(device_key, "myhub.azure-devices.net/devices/Dev 1(x)", 1700000000),
        sas(device_key, "myhub.azure-devices.net/devices/a!b'c*d(e)f", 1700000000, "device"),
    ],
}, indent=2))
