// Loads the known-answer vectors (docs/vectors/protocol.json, made by docs/vectors/gen_vectors.py).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Vectors {
  crc32: { input: string; crc: string }[];
  frames: { name: string; message: string; frame: string }[];
  attestation: Record<string, string | number | boolean>;
  token: { key: string; resource: string; expiry: number; stringToSign: string; signature: string; token: string };
}

export const vectors: Vectors = JSON.parse(readFileSync(ROOT + 'docs/vectors/protocol.json', 'utf8'));
