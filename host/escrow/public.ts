// efuse-attest/escrow: the escrow stores for programs beyond the CLI — the file vault (the embedded
// default), the PostgreSQL store for several stations, a key-encryption key in a PKCS#11 token, and
// the HSM keyring that verifies attestations and tokens inside the token (docs/deployment.md).
export { FileVault, type VaultOptions } from './vault.js';
export { PgStore } from './pg.js';
export { openPkcs11Kek, type Pkcs11Kek } from './pkcs11.js';
export { HsmKeyring } from './hsm.js';
export { newRecord, type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore } from './store.js';
