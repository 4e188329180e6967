/**
 * The trace renderer on a document built by `agent_kernel.ui.trace_document.build_trace`
 * (trace-fixture.json: a four-step run with a retry, SQL, a denied call and an answer).
 */

import { EditorLanguageRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { setHighlighter } from '../highlight';
import extension, { TraceRenderer } from '../mime';
import { ITraceDocument, MIME_TYPE, formatDuration, totals } from '../traceDocument';
import { Highlighter, TraceView } from '../traceView';
import fixture from './trace-fixture.json';

function copy(changes: Partial<ITraceDocument> = {}): ITraceDocument {
  return { ...(JSON.parse(JSON.stringify(fixture)) as ITraceDocument), ...changes };
}

function text(root: Element, selector: string): string[] {
  return Array.from(root.querySelectorAll(selector)).map(n => n.textContent ?? '');
}

function rendered(doc: ITraceDocument, highlighter: Highlighter | null = null): HTMLElement {
  const view = new TraceView(() => highlighter);
  view.render(doc);
  document.body.replaceChildren(view.node);
  return view.node;
}

function row(node: HTMLElement, index: number): HTMLElement {
  return node.querySelectorAll<HTMLElement>('.jp-AgentTrace-row')[index - 1];
}

describe('the header', () => {
  it('shows the totals the text fallback shows, and the status', () => {
    const node = rendered(copy());
    expect(text(node, '.jp-AgentTrace-title')).toEqual(['Agent trace']);
    expect(text(node, '.jp-AgentTrace-model')).toEqual(['gpt-4o-mini']);
    expect(text(node, '.jp-AgentTrace-totals')).toEqual([
      '4 steps · 3,912 tokens in / 161 out · $0.0007 · 8.0 s'
    ]);
    expect(text(node, '.jp-AgentTrace-runStatus')).toEqual(['answered']);
    expect(node.querySelector('.jp-AgentTrace-demo')).toBeNull();
    expect(text(node, '.jp-AgentTrace-requestText')).toEqual([
      'Which region had the highest revenue in March?'
    ]);
  });

  it('labels the offline demo model and a run that ended badly', () => {
    const node = rendered(
      copy({
        demo: true,
        status: 'max_steps',
        message: 'Stopped after 4 steps (the limit).'
      })
    );
    expect(text(node, '.jp-AgentTrace-demo')).toEqual(['offline demo model']);
    expect(text(node, '.jp-AgentTrace-runStatus')).toEqual(['step limit reached']);
    expect(text(node, '.jp-AgentTrace-message')).toEqual(['Stopped after 4 steps (the limit).']);
  });

  it('does not show an answer whose only action was denied as a success', () => {
    const denied = copy();
    denied.steps = denied.steps.filter(step => step.kind !== 'tool' || step.status === 'denied');
    const node = rendered(denied);
    const badge = node.querySelector<HTMLElement>('.jp-AgentTrace-runStatus')!;
    expect(badge.textContent).toBe('answered · action denied');
    expect(badge.dataset.status).toBe('denied');
    const acted = rendered(copy()).querySelector<HTMLElement>('.jp-AgentTrace-runStatus')!;
    expect(acted.dataset.status).toBe('answered');
  });

  it('folds and unfolds the step list', () => {
    const node = rendered(copy());
    const header = node.querySelector<HTMLButtonElement>('.jp-AgentTrace-header')!;
    const body = node.querySelector<HTMLElement>('.jp-AgentTrace-body')!;
    expect(header.getAttribute('aria-expanded')).toBe('true');
    expect(body.hidden).toBe(false);
    header.click();
    expect(header.getAttribute('aria-expanded')).toBe('false');
    expect(body.hidden).toBe(true);
    header.click();
    expect(body.hidden).toBe(false);
  });

  it('keeps to what the document says when fields are missing', () => {
    const node = rendered({ steps: [] } as unknown as ITraceDocument);
    expect(text(node, '.jp-AgentTrace-model')).toEqual(['model']);
    expect(text(node, '.jp-AgentTrace-totals')).toEqual(['0 steps']);
  });
});

describe('the steps', () => {
  it('are one row each: index, kind, name, mark, summary, tokens, duration', () => {
    const node = rendered(copy());
    const steps = node.querySelectorAll<HTMLElement>('.jp-AgentTrace-step');
    expect(steps).toHaveLength(7);
    expect(Array.from(steps).map(s => [s.dataset.kind, s.dataset.status])).toEqual([
      ['model', 'done'],
      ['tool', 'done'],
      ['model', 'done'],
      ['tool', 'done'],
      ['model', 'done'],
      ['tool', 'denied'],
      ['model', 'done']
    ]);
    expect(text(node, '.jp-AgentTrace-name')).toEqual([
      'gpt-4o-mini',
      'list_variables',
      'gpt-4o-mini',
      'sql',
      'gpt-4o-mini',
      'run_python',
      'gpt-4o-mini'
    ]);
    expect(text(node, '.jp-AgentTrace-mark')).toEqual(['✓', '✓', '✓', '✓', '✓', '⊘', '✓']);
    const sql = steps[3];
    expect(text(sql, '.jp-AgentTrace-summary')).toEqual(['4 rows × 2 columns']);
    expect(text(sql, '.jp-AgentTrace-duration')).toEqual(['9 ms']);
    expect(text(steps[0], '.jp-AgentTrace-tokens')).toEqual(['812 in / 14 out']);
    expect(text(steps[0], '.jp-AgentTrace-duration')).toEqual(['640 ms']);
    expect(text(steps[5], '.jp-AgentTrace-summary')).toEqual([
      'denied: code runs need approval in this notebook'
    ]);
    expect(steps[0].querySelector('.jp-AgentTrace-kind')!.getAttribute('title')).toBe('model call');
  });

  it('open to show highlighted code, arguments and the bounded result', async () => {
    const calls: [string, string][] = [];
    const highlighter: Highlighter = async (code, language, into) => {
      calls.push([code, language]);
      const keyword = document.createElement('span');
      keyword.className = 'tok-keyword';
      keyword.textContent = code;
      into.appendChild(keyword);
    };
    const node = rendered(copy(), highlighter);
    const sql = row(node, 4);
    expect(sql.tagName).toBe('BUTTON');
    expect(sql.getAttribute('aria-expanded')).toBe('false');
    expect(node.querySelector('.jp-AgentTrace-details')).toBeNull();

    sql.click();
    expect(sql.getAttribute('aria-expanded')).toBe('true');
    const details = node.querySelector('.jp-AgentTrace-details')!;
    expect(text(details, '.jp-AgentTrace-label')).toEqual(['sql', 'result']);
    await Promise.resolve();
    const code = details.querySelector<HTMLElement>('.jp-AgentTrace-code')!;
    expect(calls).toEqual([[fixture.steps[3].code!.source, 'sql']]);
    expect(code.querySelector('.tok-keyword')?.textContent).toContain('GROUP BY region');
    expect(text(details, '.jp-AgentTrace-result')[0]).toContain('| West | 1450.0 |');
    expect(text(details, '.jp-AgentTrace-notes')).toEqual([
      'the result sent to the model was cut to its size limit'
    ]);

    sql.click();
    expect(node.querySelector('.jp-AgentTrace-details')).toBeNull();
  });

  it('show code as text where no highlighter is available', () => {
    const node = rendered(copy());
    row(node, 4).click();
    expect(text(node, '.jp-AgentTrace-code')).toEqual([fixture.steps[3].code!.source]);
  });

  it('show a model step’s text, retries and cost; steps with nothing more do not open', () => {
    const node = rendered(copy());
    row(node, 1).click();
    expect(text(node, '.jp-AgentTrace-notes')).toEqual(['retried 1 time · cost $0.0001']);
    row(node, 7).click();
    expect(text(node, '.jp-AgentTrace-text')).toEqual([
      '**West** had the highest revenue in March (1,450.00), ahead of East (1,200.00).'
    ]);
    row(node, 6).click(); // the denied call keeps its arguments as code
    expect(text(node, '.jp-AgentTrace-code')).toEqual(["sales.plot.bar(x='region', y='revenue')"]);
    const bare = copy();
    bare.steps = [{ ...bare.steps[2], cost_usd: null }];
    const plain = rendered(bare);
    expect(plain.querySelector('.jp-AgentTrace-row')!.tagName).toBe('DIV');
  });

  it('write what the model and tools produced as text, never as HTML', () => {
    const doc = copy();
    doc.steps[1].result = '<img src=x onerror="window.pwned = true">';
    doc.steps[1].summary = '<b>bold</b>';
    const node = rendered(doc);
    row(node, 2).click();
    expect(node.querySelector('img, b')).toBeNull();
    expect(text(node, '.jp-AgentTrace-result')).toEqual([doc.steps[1].result]);
  });

  it('stay open when the same trace is rendered again', () => {
    const view = new TraceView();
    view.render(copy());
    view.toggleStep(4);
    view.render(copy({ status: 'answered' }));
    expect(view.node.querySelectorAll('.jp-AgentTrace-details')).toHaveLength(1);
  });
});

describe('the MIME renderer', () => {
  function model(data: unknown): IRenderMime.IMimeModel {
    return {
      trusted: false,
      data: { [MIME_TYPE]: data } as IRenderMime.IMimeModel['data'],
      metadata: {},
      setData: () => undefined
    };
  }

  it('is registered for the trace type, ahead of the HTML fallback, untrusted too', () => {
    expect(extension.rendererFactory.mimeTypes).toEqual([MIME_TYPE]);
    expect(extension.rendererFactory.safe).toBe(true);
    expect(extension.rank).toBeLessThan(50);
    expect(extension.dataType).toBe('json');
  });

  it('renders the document of an output', async () => {
    const renderer = extension.rendererFactory.createRenderer({
      mimeType: MIME_TYPE,
      sanitizer: { sanitize: (s: string) => s },
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }) as TraceRenderer;
    await renderer.renderModel(model(copy()));
    expect(renderer.hasClass('jp-RenderedAgentTrace')).toBe(true);
    expect(renderer.node.querySelectorAll('.jp-AgentTrace-step')).toHaveLength(7);
    await renderer.renderModel(model(null));
    expect(renderer.node.textContent).toBe('This agent trace is empty or unreadable.');
  });
});

describe("JupyterLab's CodeMirror highlighting", () => {
  let languages: IEditorLanguageRegistry;

  beforeAll(() => {
    languages = new EditorLanguageRegistry();
    for (const language of EditorLanguageRegistry.getDefaultLanguages()) {
      languages.addLanguage(language);
    }
  });

  afterAll(() => setHighlighter(null));

  it('colours SQL and Python in a trace', async () => {
    setHighlighter((code, language, into) =>
      languages.highlight(code, languages.findBest(language), into)
    );
    const renderer = new TraceRenderer({
      mimeType: MIME_TYPE,
      sanitizer: { sanitize: (s: string) => s },
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    });
    await renderer.renderModel({
      trusted: true,
      data: { [MIME_TYPE]: copy() } as unknown as IRenderMime.IMimeModel['data'],
      metadata: {},
      setData: () => undefined
    });
    document.body.replaceChildren(renderer.node);
    row(renderer.node, 4).click();
    const code = renderer.node.querySelector<HTMLElement>('.jp-AgentTrace-code')!;
    for (let i = 0; i < 50 && !code.classList.contains('jp-AgentTrace-highlighted'); i++) {
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    expect(code.classList.contains('jp-AgentTrace-highlighted')).toBe(true);
    expect(code.querySelectorAll('span').length).toBeGreaterThan(5);
    expect(code.textContent).toBe(fixture.steps[3].code!.source);
  });
});

describe('formatting', () => {
  it('writes durations and totals as the Python fallback does', () => {
    expect(formatDuration(9.4)).toBe('9 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(null)).toBe('');
    const doc = copy({ cost_usd: null, usage: { prompt_tokens: 0, completion_tokens: 0 } });
    expect(totals(doc)).toEqual(['gpt-4o-mini', '4 steps', '8.0 s']);
  });
});
