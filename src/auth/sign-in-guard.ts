import type { Context } from "../graphql/context.js";
import { createThrottle, type Throttle } from "./throttle.js";

/**
 * The throttle around every password check (login, changePassword): counted before the
 * password is compared, and refused with RATE_LIMITED over a limit. A refusal is recorded
 * as `login.throttled` once per limit and window, however often the client tries again,
 * so a flood of refused attempts does not grow the audit trail.
 */
export async function guardSignIn(context: Context, email: string, actorId: string | null = null): Promise<Throttle> {
  const throttle = createThrottle(context.db, context.services.config.throttle);
  const refused = await throttle.loginAttempt(email, context.clientAddress);
  if (refused) {
    if (refused.firstInWindow) {
      await context.services.audit.record(context.db, {
        type: "login.throttled",
        actorId,
        subjectId: null,
        details: { email, limits: refused.limits },
      });
    }
    throw refused.error;
  }
  return throttle;
}
