// The device-side API: attest(), token(), deviceInfo() on top of a Hardware. The UART service
// (service.ts) answers the host with these, and firmware developers call them directly (api.ts).
// Failures throw DeviceFault carrying the protocol status (docs/protocol.md §6) and esp_err_t.
import {
  type AttestResponse, chipCode, type DeviceInfo, ESP_ERR, formatSasToken, KEY_SLOTS, NONCE_MAX, NONCE_MIN,
  checkResource, checkKeyName, type StatusName, TOKEN_SLOT,
} from '../../protocol/index.js';
import type { Hardware } from './hardware.js';

export class DeviceFault extends Error {
  // A class field: `this.name = …` throws on a device, whose Error.prototype xsl has frozen.
  override readonly name = 'DeviceFault';
  readonly status: StatusName;
  readonly espErr: number;
  constructor(status: StatusName, message: string, espErr = 0) {
    super(message);
    this.status = status;
    this.espErr = espErr;
  }
}

export interface DeviceApi {
  attest(hostNonce: Uint8Array, slot?: number): AttestResponse;
  token(resource: string, expiry: number, opts?: { slot?: number; keyName?: string }): string;
  deviceInfo(): DeviceInfo;
}

const ESP_NAME = /^(ESP_(?:FAIL|ERR_[A-Z_]+))\b/;

/** Maps an exception of the native module to a DeviceFault (docs/native.md has the table). */
export function toFault(err: unknown): DeviceFault {
  if (err instanceof DeviceFault) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('no HMAC peripheral')) return new DeviceFault('NO_HMAC', message, ESP_ERR.ESP_ERR_NOT_SUPPORTED);
  if (message.startsWith('KEY_ROLE: ')) return new DeviceFault('KEY_ROLE', message.slice(10), ESP_ERR.ESP_ERR_NOT_ALLOWED);
  const m = ESP_NAME.exec(message);
  if (m) {
    const code = (ESP_ERR as Record<string, number>)[m[1]] ?? -1;
    return new DeviceFault(m[1] === 'ESP_FAIL' ? 'KEY_PURPOSE' : 'HMAC_FAILED', message, code);
  }
  if (err instanceof RangeError) return new DeviceFault('BAD_SLOT', message);
  return new DeviceFault('INTERNAL', message);
}

function checkSlot(slot: unknown): number {
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot >= KEY_SLOTS) {
    throw new DeviceFault('BAD_SLOT', `key slot must be 0..${KEY_SLOTS - 1}, got ${String(slot)}`);
  }
  return slot;
}

export function createDevice(hw: Hardware): DeviceApi {
  // Factory data cannot change while running: read it once.
  const chip = hw.chip();
  const deviceId = hw.mac();
  const fw = hw.firmware();
  const state = {
    chip: chipCode(chip.model),
    revision: chip.revision,
    deviceId,
    hmac: chip.hmac,
    secureBoot: chip.secureBoot,
    flashEncryption: chip.flashEncryption,
    firmwareId: fw.id,
    firmwareVersion: fw.version,
  };

  function hardware<T>(call: () => T): T {
    try {
      return call();
    } catch (err) {
      throw toFault(err);
    }
  }

  return Object.freeze({
    attest(hostNonce: Uint8Array, slot = 0): AttestResponse {
      checkSlot(slot);
      if (!(hostNonce instanceof Uint8Array) || hostNonce.length < NONCE_MIN || hostNonce.length > NONCE_MAX) {
        throw new DeviceFault('BAD_NONCE', `host nonce must be ${NONCE_MIN}..${NONCE_MAX} bytes`);
      }
      if (!state.hmac) throw new DeviceFault('NO_HMAC', `no HMAC peripheral on ${chip.model}`, ESP_ERR.ESP_ERR_NOT_SUPPORTED);
      // docs/protocol.md §5: the hardware builds the tagged transcript from the state it reads itself.
      return hardware(() => hw.attest(slot, hostNonce));
    },

    token(resource: string, expiry: number, opts: { slot?: number; keyName?: string } = {}): string {
      const slot = checkSlot(opts.slot ?? TOKEN_SLOT);
      try {
        checkResource(resource);
        checkKeyName(opts.keyName ?? '');
      } catch (err) {
        throw new DeviceFault('BAD_RESOURCE', (err as Error).message);
      }
      if (typeof expiry !== 'number' || !Number.isInteger(expiry) || expiry < 1 || expiry > 0xffffffff) {
        throw new DeviceFault('BAD_EXPIRY', 'expiry must be 1..4294967295 seconds since the epoch');
      }
      // docs/protocol.md §7: the hardware builds the printable string-to-sign, disjoint from transcripts.
      return formatSasToken(resource, expiry, hardware(() => hw.token(slot, resource, expiry)), opts.keyName ?? '');
    },

    deviceInfo(): DeviceInfo {
      const keys = [];
      try {
        for (let slot = 0; slot < KEY_SLOTS; slot++) keys.push(hw.keyBlock(slot));
      } catch {
        keys.length = 0; // the original ESP32 has no key purposes: report no key blocks
      }
      return { ...state, keys };
    },
  });
}

