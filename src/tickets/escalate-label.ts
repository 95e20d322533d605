/** The label a person adds on a pending ticket to move it to the next escalation tier now: a command on every provider, never a rule input. */
export const ESCALATE_LABEL = 'escalate';
