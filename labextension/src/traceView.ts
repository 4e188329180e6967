/**
 * A trace document drawn as DOM: a header with the run's totals over a list of steps, each
 * of which opens to show its code (highlighted), arguments, text and bounded result.
 *
 * Plain DOM and `textContent` only: a trace holds text the model and tools produced, which
 * must never be read as HTML. Colours come from JupyterLab's `--jp-*` variables (see
 * style/base.css), so light and dark themes both apply.
 */

import { element } from './dom';
import {
  ITraceDocument,
  ITraceStep,
  KIND_LABELS,
  STATUS_MARKS,
  formatCost,
  formatDuration,
  formatTokens,
  hasDetails,
  requestLine,
  runBadge,
  totals
} from './traceDocument';

/** Puts `code` highlighted for `language` into `into`; JupyterLab's CodeMirror does it. */
export type Highlighter = (code: string, language: string, into: HTMLElement) => Promise<void>;

const SVG_NS = 'http://www.w3.org/2000/svg';

// 16×16 outlines, drawn for this extension; `currentColor` lets CSS theme them.
const KIND_ICONS: { [kind: string]: string } = {
  model: 'M8 1l1.7 5.3L15 8l-5.3 1.7L8 15l-1.7-5.3L1 8l5.3-1.7z',
  tool: 'M14.2 4.6l-2.4 2.4-2.3-.5-.5-2.3 2.4-2.4a4 4 0 0 0-5 5L1.6 11.6a1.4 1.4 0 0 0 2 2l4.8-4.8a4 4 0 0 0 5.8-4.2z',
  approval: 'M8 1l6 2.5v4C14 11.1 11.4 14 8 15 4.6 14 2 11.1 2 7.5v-4z',
  verification: 'M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm-1 10.4L3.8 8.2l1.4-1.4L7 8.6l3.8-3.8 1.4 1.4z',
  other: 'M8 4a4 4 0 1 0 0 8 4 4 0 0 0 0-8z'
};

function kindIcon(kind: string): HTMLElement {
  const holder = element('span', 'jp-AgentTrace-kind');
  holder.title = KIND_LABELS[kind] ?? kind;
  holder.setAttribute('aria-label', holder.title);
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', KIND_ICONS[kind] ?? KIND_ICONS.other);
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  holder.appendChild(svg);
  return holder;
}

function section(label: string, body: HTMLElement): HTMLElement {
  const node = element('div', 'jp-AgentTrace-section');
  node.appendChild(element('div', 'jp-AgentTrace-label', label));
  node.appendChild(body);
  return node;
}

function pre(text: string, className = ''): HTMLElement {
  return element('pre', `jp-AgentTrace-pre ${className}`.trim(), text);
}

/**
 * The view of one trace. It keeps which rows are open, so a document that is rendered again
 * (an updated display, a re-rendered output) does not fold what the reader opened.
 */
export class TraceView {
  readonly node: HTMLElement;

  constructor(highlighter: () => Highlighter | null = () => null) {
    this._highlighter = highlighter;
    this.node = element('div', 'jp-AgentTrace');
  }

  render(doc: ITraceDocument): void {
    this._doc = doc;
    const steps = Array.isArray(doc.steps) ? doc.steps : [];
    this.node.dataset.status = String(doc.status ?? '');
    this.node.replaceChildren(this._header(doc, steps.length));
    const body = element('div', 'jp-AgentTrace-body');
    body.id = `${this._id}-body`;
    body.hidden = this._folded;
    const request = requestLine(doc);
    if (request) {
      const line = element('div', 'jp-AgentTrace-request');
      line.appendChild(element('span', 'jp-AgentTrace-label', 'Request'));
      line.appendChild(element('span', 'jp-AgentTrace-requestText', request));
      body.appendChild(line);
    }
    const list = element('ol', 'jp-AgentTrace-steps');
    this._items.clear();
    for (const step of steps) {
      const item = this._step(step);
      this._items.set(step.index, item);
      list.appendChild(item);
    }
    body.appendChild(list);
    if (doc.message) {
      body.appendChild(element('div', 'jp-AgentTrace-message', doc.message));
    }
    this.node.appendChild(body);
  }

  /** Open or close the step with this index (what a click on its row does). */
  toggleStep(index: number): void {
    const item = this._items.get(index);
    const step = this._doc?.steps.find(s => s.index === index);
    if (!item || !step || !hasDetails(step)) {
      return;
    }
    const row = item.querySelector('.jp-AgentTrace-row');
    const open = !this._open.has(index);
    if (open) {
      this._open.add(index);
      item.appendChild(this._details(step));
    } else {
      this._open.delete(index);
      item.querySelector('.jp-AgentTrace-details')?.remove();
    }
    row?.setAttribute('aria-expanded', String(open));
  }

  /** Fold or unfold the whole list (what a click on the header does). */
  toggleList(): void {
    this._folded = !this._folded;
    const header = this.node.querySelector('.jp-AgentTrace-header');
    const body = this.node.querySelector<HTMLElement>('.jp-AgentTrace-body');
    header?.setAttribute('aria-expanded', String(!this._folded));
    if (body) {
      body.hidden = this._folded;
    }
  }

  private _header(doc: ITraceDocument, count: number): HTMLElement {
    const header = element('button', 'jp-AgentTrace-header');
    header.type = 'button';
    header.setAttribute('aria-expanded', String(!this._folded));
    header.setAttribute('aria-controls', `${this._id}-body`);
    header.title = `Show or hide the ${count} step${count === 1 ? '' : 's'}`;
    header.addEventListener('click', () => this.toggleList());
    header.appendChild(element('span', 'jp-AgentTrace-caret'));
    header.appendChild(element('span', 'jp-AgentTrace-title', 'Agent trace'));
    const parts = totals(doc);
    const model = element('span', 'jp-AgentTrace-model', parts[0]);
    const rest = element('span', 'jp-AgentTrace-totals', parts.slice(1).join(' · '));
    header.appendChild(model);
    if (doc.demo) {
      header.appendChild(
        element('span', 'jp-AgentTrace-badge jp-AgentTrace-demo', 'offline demo model')
      );
    }
    header.appendChild(rest);
    const { status, label } = runBadge(doc);
    const badge = element('span', 'jp-AgentTrace-badge jp-AgentTrace-runStatus', label);
    badge.dataset.status = status;
    header.appendChild(badge);
    return header;
  }

  private _step(step: ITraceStep): HTMLElement {
    const item = element('li', 'jp-AgentTrace-step');
    item.dataset.kind = String(step.kind);
    item.dataset.status = String(step.status);
    const expandable = hasDetails(step);
    const open = expandable && this._open.has(step.index);
    const row = element(expandable ? 'button' : 'div', 'jp-AgentTrace-row');
    if (row instanceof HTMLButtonElement) {
      row.type = 'button';
      row.setAttribute('aria-expanded', String(open));
      row.setAttribute('aria-controls', `${this._id}-step-${step.index}`);
      row.addEventListener('click', () => this.toggleStep(step.index));
    }
    row.appendChild(element('span', 'jp-AgentTrace-caret'));
    row.appendChild(element('span', 'jp-AgentTrace-index', String(step.index)));
    row.appendChild(kindIcon(String(step.kind)));
    row.appendChild(element('span', 'jp-AgentTrace-name', step.name || String(step.kind)));
    const mark = element('span', 'jp-AgentTrace-mark', STATUS_MARKS[step.status] ?? '?');
    mark.title = String(step.status);
    row.appendChild(mark);
    row.appendChild(element('span', 'jp-AgentTrace-summary', step.summary ?? ''));
    row.appendChild(
      element('span', 'jp-AgentTrace-tokens', formatTokens(step.tokens_in, step.tokens_out))
    );
    row.appendChild(element('span', 'jp-AgentTrace-duration', formatDuration(step.duration_ms)));
    item.appendChild(row);
    if (open) {
      item.appendChild(this._details(step));
    }
    return item;
  }

  private _details(step: ITraceStep): HTMLElement {
    const details = element('div', 'jp-AgentTrace-details');
    details.id = `${this._id}-step-${step.index}`;
    if (step.code?.source) {
      details.appendChild(
        section(step.code.language, this._code(step.code.source, step.code.language))
      );
    }
    const args = step.arguments;
    if (typeof args === 'string' ? args : args && Object.keys(args).length) {
      const text = typeof args === 'string' ? args : JSON.stringify(args, null, 2);
      details.appendChild(section('arguments', pre(text, 'jp-AgentTrace-arguments')));
    }
    if (step.text) {
      details.appendChild(section('text', pre(step.text, 'jp-AgentTrace-text')));
    }
    if (step.result) {
      details.appendChild(section('result', pre(step.result, 'jp-AgentTrace-result')));
    }
    const notes: string[] = [];
    if (step.truncated) {
      notes.push('the result sent to the model was cut to its size limit');
    }
    if (step.retries) {
      notes.push(`retried ${step.retries} time${step.retries === 1 ? '' : 's'}`);
    }
    const cost = formatCost(step.cost_usd);
    if (cost) {
      notes.push(`cost ${cost}`);
    }
    if (notes.length) {
      details.appendChild(element('div', 'jp-AgentTrace-notes', notes.join(' · ')));
    }
    return details;
  }

  private _code(source: string, language: string): HTMLElement {
    const block = pre(source, `jp-AgentTrace-code cm-s-jupyter language-${language}`);
    block.dataset.language = language;
    const highlight = this._highlighter();
    if (highlight) {
      // Highlight into a detached node and swap it in whole: a failure leaves plain text.
      const highlighted = element('code', '');
      highlight(source, language, highlighted)
        .then(() => {
          block.replaceChildren(highlighted);
          block.classList.add('jp-AgentTrace-highlighted');
        })
        .catch(reason => console.warn('agent-kernel: highlighting failed', reason));
    }
    return block;
  }

  private _highlighter: () => Highlighter | null;
  private _doc: ITraceDocument | null = null;
  private _open = new Set<number>();
  private _items = new Map<number, HTMLElement>();
  private _folded = false;
  private _id = `jp-AgentTrace-${Private.nextId()}`;
}

namespace Private {
  let count = 0;

  /** A number no other trace view in the page has, for element ids. */
  export function nextId(): number {
    return ++count;
  }
}
