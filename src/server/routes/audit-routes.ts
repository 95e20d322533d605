import Router from '@koa/router';
import { requireScope, requireVisibleApproval } from '../../approvals/access.ts';
import { toAuditRecord } from '../../audit/read-audit-snapshot.ts';
import { badRequest, notFound } from '../../primitives/errors.ts';
import { isApprovalId } from '../../primitives/ids.ts';
import type { Services } from '../../services.ts';
import { authenticate } from '../auth.ts';

export function auditRoutes(services: Services): Router {
  const router = new Router({ prefix: '/v1/audit' });

  /** One approval's records, oldest first, each with its hash, signature and key id. */
  router.get('/', async (ctx) => {
    const principal = await authenticate(services, ctx);
    requireScope(principal, 'read');
    const approvalId = ctx.query.approvalId;
    if (typeof approvalId !== 'string' || approvalId === '') throw badRequest('invalid_request', 'approvalId: required (GET /v1/audit?approvalId=apr_…)');
    // Like an unknown id, a malformed one names no approval: 404, before any query, without echoing it.
    if (!isApprovalId(approvalId)) throw notFound('approvalId: no such approval (ids look like apr_ and 26 letters and digits)');
    requireVisibleApproval(principal, approvalId, await services.db.selectFrom('approvals').select('project').where('id', '=', approvalId).executeTakeFirst());
    // Entries committed a moment ago may still be queued: chain them so the answer is complete.
    await services.audit.flush();
    const rows = await services.db.selectFrom('audit_records').selectAll().where('approval_id', '=', approvalId).orderBy('seq').execute();
    ctx.body = { approvalId, records: rows.map(toAuditRecord) };
  });

  /** Public: what anyone needs to check records, checkpoints and callback receipts. */
  router.get('/public-key', async (ctx) => {
    const keys = await services.db.selectFrom('audit_signing_keys').select(['key_id', 'public_key', 'created_at']).orderBy('created_at').execute();
    ctx.body = {
      keyId: services.signer.keyId,
      algorithm: 'Ed25519',
      publicKey: services.signer.publicKeyPem,
      // Keys used before a rotation, still needed for older records.
      keys: keys.map((k) => ({ keyId: k.key_id, publicKey: k.public_key, since: k.created_at.toISOString() })),
    };
  });

  /**
   * Public, like the key: the latest signed checkpoint as C2SP note text, for auditors and
   * witnesses to keep and later hand to `countersign audit verify --checkpoint FILE`. The
   * server signs one every 1000 records and every minute while records arrive.
   */
  router.get('/checkpoint', async (ctx) => {
    const latest = await services.db.selectFrom('audit_checkpoints').select('note').orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    if (!latest) throw notFound('no checkpoint has been signed yet (the server signs one within a minute of the first records)');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = latest.note;
  });

  return router;
}
