// efuse-attest audit verify: checks the hash chain of the provisioning audit log (docs/provisioning.md
// §5.1) and, with --escrow postgres://…, of the escrow's audit table, and names the first broken
// entry. Exit 0 when every chain holds; a broken chain is AUDIT_TAMPERED (exit 6).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AuditError, UsageError } from '../../errors.js';
import { PgStore, verifyAuditRows } from '../../escrow/pg.js';
import { type ChainReport, verifyAuditFile } from '../../provision/audit.js';
import { type Command, str } from '../command.js';
import { DEFAULT_AUDIT, escrowUrl, openStore, VAULT_OPTIONS } from '../secrets.js';

interface Result {
  file?: ChainReport & { path: string };
  table?: ReturnType<typeof verifyAuditRows> & { escrow: string };
}

export const audit: Command = {
  name: 'audit',
  summary: 'verify the hash chain of the audit log (and of the escrow database\'s audit table)',
  usage: `efuse-attest audit verify [--audit FILE] [--escrow postgres://… [--kek pkcs11:…]] [--json]

  --audit FILE     the provisioning audit log (default ${DEFAULT_AUDIT})
  --escrow URL     also verify the audit table of this PostgreSQL escrow
  --kek pkcs11:…   the escrow's key-encryption key, when it is in a token

Prints the number of chained entries and the head hash (keep it elsewhere: a log cut short after
it is then detected). Exit 0 when every chain holds; 6 (AUDIT_TAMPERED) naming the first broken
entry — edited, inserted or removed — otherwise.`,
  options: { ...VAULT_OPTIONS, audit: { type: 'string' } },
  positionals: true,
  async run(values, positionals): Promise<Result> {
    const [sub, ...extra] = positionals;
    if (sub !== 'verify') throw new UsageError('give a subcommand: audit verify');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const out: Result = {};
    const path = resolve(str(values, 'audit') ?? DEFAULT_AUDIT);
    // With only --escrow, a station without a local log checks just the table.
    const fileWanted = str(values, 'audit') !== undefined || escrowUrl(values) === undefined || existsSync(path);
    if (fileWanted) out.file = { path, ...(await verifyAuditFile(path)) };
    if (escrowUrl(values) !== undefined) {
      const store = await openStore(values, { mustExist: true, create: false });
      try {
        if (store instanceof PgStore) out.table = { escrow: store.location, ...verifyAuditRows(await store.auditRows()) };
      } finally {
        await store.close();
      }
    }
    const f = out.file;
    if (f && !f.ok) throw new AuditError(`the audit log ${f.path} is broken at line ${f.broken!.line}: ${f.broken!.reason}`, 'AUDIT_TAMPERED');
    const t = out.table;
    if (t && !t.ok) throw new AuditError(`the escrow audit table of ${t.escrow} is broken at entry ${t.broken!.seq}: ${t.broken!.reason}`, 'AUDIT_TAMPERED');
    return out;
  },
  format(r: Result) {
    const lines: string[] = [];
    if (r.file) lines.push(`${r.file.path}: ${r.file.entries} chained entries${r.file.unchained ? ` (after ${r.file.unchained} older unchained lines)` : ''}, intact; head ${r.file.head}`);
    if (r.table) lines.push(`${r.table.escrow} audit table: ${r.table.entries} entries, intact; head ${r.table.head}`);
    return lines.join('\n');
  },
};
