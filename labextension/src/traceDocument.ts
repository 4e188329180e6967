/**
 * The trace document a run saves in its cell (`application/vnd.agent-kernel.trace+json`),
 * as built by `agent_kernel/ui/trace_document.py`, and the words and numbers shown for it.
 *
 * Everything here reads a document defensively: a notebook may hold one written by an older
 * or newer agent-kernel, so a missing field shows as nothing rather than breaking the cell.
 */

export const MIME_TYPE = 'application/vnd.agent-kernel.trace+json';

export type RunStatus = 'running' | 'answered' | 'max_steps' | 'interrupted' | 'error';

export type StepStatus = 'running' | 'done' | 'failed' | 'denied';

export interface ITraceStep {
  index: number;
  kind: string; // "model" | "tool", later "approval" | "verification"
  name: string;
  status: StepStatus | string;
  duration_ms: number | null;
  summary: string;
  tokens_in?: number | null;
  tokens_out?: number | null;
  cost_usd?: number | null;
  text?: string;
  code?: { language: string; source: string };
  arguments?: { [name: string]: unknown } | string;
  result?: string;
  truncated?: boolean;
  retries?: number;
}

export interface ITraceDocument {
  version: number;
  run_id: string;
  model: string;
  request: string;
  status: RunStatus | string;
  message: string;
  answer: string;
  started: number | null;
  duration_ms: number | null;
  usage: { prompt_tokens: number; completion_tokens: number };
  cost_usd: number | null;
  demo: boolean;
  steps: ITraceStep[];
}

/** Marks shared with the text fallback, so a trace reads the same everywhere. */
export const STATUS_MARKS: { [status: string]: string } = {
  done: '✓',
  failed: '✗',
  denied: '⊘',
  running: '…'
};

export const KIND_LABELS: { [kind: string]: string } = {
  model: 'model call',
  tool: 'tool call',
  approval: 'approval',
  verification: 'verification'
};

const RUN_STATUS_LABELS: { [status: string]: string } = {
  running: 'running',
  answered: 'answered',
  max_steps: 'step limit reached',
  interrupted: 'interrupted',
  error: 'error'
};

export function runStatusLabel(status: string): string {
  return RUN_STATUS_LABELS[status] ?? status.replace(/_/g, ' ');
}

/**
 * True when the run asked to act, was denied, and did nothing else: its answer is then not
 * a success to show in green (the same rule as `only_denied` in trace_document.py).
 */
export function onlyDenied(doc: ITraceDocument): boolean {
  const steps = Array.isArray(doc.steps) ? doc.steps : [];
  const denied = steps.some(step => step.status === 'denied');
  const acted = steps.some(step => step.kind === 'tool' && step.status === 'done');
  return denied && !acted;
}

/** The badge: the run's status, or `denied` for an answer whose only action was denied. */
export function runBadge(doc: ITraceDocument): { status: string; label: string } {
  const status = String(doc.status ?? '');
  if (status === 'answered' && onlyDenied(doc)) {
    return { status: 'denied', label: 'answered · action denied' };
  }
  return { status, label: runStatusLabel(status) };
}

/** `850 ms`, `4.2 s`, as the Python side writes durations. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) {
    return '';
  }
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) {
    return '';
  }
  return `$${usd.toFixed(4)}`;
}

export function formatTokens(
  tokensIn: number | null | undefined,
  tokensOut: number | null | undefined
): string {
  if (
    (tokensIn === null || tokensIn === undefined) &&
    (tokensOut === null || tokensOut === undefined)
  ) {
    return '';
  }
  return `${formatCount(tokensIn ?? 0)} in / ${formatCount(tokensOut ?? 0)} out`;
}

/** Model calls made: what "steps" means in `%%agent --max-steps` and the footer. */
export function modelSteps(doc: ITraceDocument): number {
  return (doc.steps ?? []).filter(step => step.kind === 'model').length;
}

/**
 * The header's totals, in order: model, steps, tokens, cost, duration. Status and the demo
 * label are shown apart, as badges.
 */
export function totals(doc: ITraceDocument): string[] {
  const parts: string[] = [doc.model || 'model'];
  const steps = modelSteps(doc);
  parts.push(`${steps} step${steps === 1 ? '' : 's'}`);
  const usage = doc.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
  if (usage.prompt_tokens || usage.completion_tokens) {
    parts.push(
      `${formatCount(usage.prompt_tokens ?? 0)} tokens in / ${formatCount(usage.completion_tokens ?? 0)} out`
    );
  }
  const cost = formatCost(doc.cost_usd);
  if (cost) {
    parts.push(cost);
  }
  const duration = formatDuration(doc.duration_ms);
  if (duration) {
    parts.push(duration);
  }
  return parts;
}

/** The first line of the request, cut short: the header says which run this was. */
export function requestLine(doc: ITraceDocument, limit = 200): string {
  const first = (doc.request ?? '').trim().split('\n')[0] ?? '';
  return first.length > limit ? `${first.slice(0, limit - 1)}…` : first;
}

/** True when a step has more to show than its row: code, arguments, text or a result. */
export function hasDetails(step: ITraceStep): boolean {
  return Boolean(
    step.code?.source ||
    step.text ||
    step.result ||
    step.retries ||
    (typeof step.arguments === 'string'
      ? step.arguments
      : step.arguments && Object.keys(step.arguments).length > 0)
  );
}
