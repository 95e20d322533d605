import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { CountersignError } from '../primitives/errors.ts';

/** Maps every error to the contract's body `{"error": {"code", "message"}}`; unknown errors never leak their text. */
export function errorsMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: { code: 'not_found', message: `no route for ${ctx.method} ${ctx.path}` } };
      }
    } catch (error) {
      if (error instanceof CountersignError) {
        ctx.status = error.status;
        ctx.body = { error: { code: error.code, message: error.message } };
        return;
      }
      logger.error({ err: error, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error; the server log has the details' } };
    }
  };
}
