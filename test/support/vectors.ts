// Loads the known-answer vectors (docs/vectors/protocol.json, made by docs/vectors/gen_vectors.py, and
// docs/vectors/azure.json, made by docs/vectors/gen_azure.py).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Vectors {
  crc32: { input: string; crc: string }[];
  frames: { name: string; message: string; frame: string }[];
  attestation: Record<string, string | number | boolean>;
  token: { key: string; resource: string; expiry: number; stringToSign: string; signature: string; token: string };
  tokens: TokenVector[];
}

export interface TokenVector { key: string; resource: string; expiry: number; keyName: string; stringToSign: string; signature?: string; token: string }

/** docs/vectors/azure.json, made by docs/vectors/gen_azure.py (cited by docs/azure.md). */
export interface AzureVectors {
  dps: { groupKey: string; registrationId: string; deviceKey: string };
  sas: TokenVector[];
}

export const vectors: Vectors = JSON.parse(readFileSync(ROOT + 'docs/vectors/protocol.json', 'utf8'));
export const azureVectors: AzureVectors = JSON.parse(readFileSync(ROOT + 'docs/vectors/azure.json', 'utf8'));
