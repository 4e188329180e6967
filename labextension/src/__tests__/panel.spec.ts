/**
 * The side panel with the server's answers stood in by a function: what it lists, what it
 * says when a folder has nothing or the server refuses.
 */

import { Widget } from '@lumino/widgets';

import { IMemoryRow, ISessionRow } from '../api';
import { ProjectPanel, RowFetcher, ago } from '../panel';

const NOW = Date.parse('2025-03-01T12:00:00Z');

const SESSIONS: ISessionRow[] = [
  {
    id: 'ses_b',
    title: 'Plot the costs',
    notebook: 'costs.ipynb',
    turns: 1,
    last_active: new Date(Date.now() - 5 * 60_000).toISOString(),
    user: 'ada'
  },
  {
    id: 'ses_a',
    title: '',
    notebook: 'sales.ipynb',
    turns: 2,
    last_active: '2025-02-01T09:00:00+00:00',
    user: 'ada'
  }
];

const MEMORIES: IMemoryRow[] = [
  {
    id: 'mem_new',
    scope: 'project',
    kind: 'fact',
    text: 'Revenue is in euros since 2024',
    source: 'user',
    trust: 'trusted',
    created: '2025-02-01T09:10:00+00:00',
    superseded_by: null,
    superseded: false,
    forgotten: null,
    current: true
  },
  {
    id: 'mem_old',
    scope: 'project',
    kind: 'fact',
    text: 'Revenue is in dollars',
    source: 'user',
    trust: 'trusted',
    created: '2025-02-01T09:03:00+00:00',
    superseded_by: 'mem_new',
    superseded: true,
    forgotten: null,
    current: false
  }
];

function fetcher(calls: string[], fail?: string): RowFetcher {
  return async <T>(route: 'sessions' | 'memories', folder: string): Promise<T[]> => {
    calls.push(`${route}:${folder}`);
    if (fail) {
      throw new Error(fail);
    }
    if (folder === 'empty') {
      return [];
    }
    return (route === 'sessions' ? SESSIONS : MEMORIES) as unknown as T[];
  };
}

function texts(panel: Widget, selector: string): string[] {
  return Array.from(panel.node.querySelectorAll(selector)).map(n => n.textContent ?? '');
}

function shown(fetch: RowFetcher): ProjectPanel {
  const panel = new ProjectPanel(fetch);
  Widget.attach(panel, document.body);
  return panel;
}

describe('the project panel', () => {
  afterEach(() => document.body.replaceChildren());

  it("lists the folder's sessions and memories, replaced ones apart", async () => {
    const calls: string[] = [];
    const panel = shown(fetcher(calls));
    panel.folder = 'work/sales';
    await panel.refresh();
    expect(calls).toEqual(expect.arrayContaining(['sessions:work/sales', 'memories:work/sales']));
    expect(texts(panel, '.jp-AgentPanel-folder')[0]).toMatch(/^Project: work\/sales · read /);
    expect(texts(panel, '.jp-AgentPanel-heading')).toEqual(['Sessions2', 'Memories1']);
    expect(texts(panel, '.jp-AgentPanel-session .jp-AgentPanel-itemText')).toEqual([
      'Plot the costs',
      '(untitled)'
    ]);
    expect(texts(panel, '.jp-AgentPanel-session .jp-AgentPanel-meta')).toEqual([
      'costs.ipynb · 1 turn · 5 min ago',
      'sales.ipynb · 2 turns · 2025-02-01'
    ]);
    const memories = panel.node.querySelectorAll<HTMLElement>('.jp-AgentPanel-memory');
    expect(Array.from(memories).map(m => m.dataset.current)).toEqual(['true', 'false']);
    expect(texts(panel, '.jp-AgentPanel-subhead')).toEqual(['Replaced or forgotten (1)']);
    expect(memories[1].querySelector('.jp-AgentPanel-meta')!.textContent).toContain(
      'replaced by mem_new'
    );
    panel.dispose();
  });

  it('says how to start when a folder has no store', async () => {
    const panel = shown(fetcher([]));
    panel.folder = 'empty';
    await panel.refresh();
    expect(texts(panel, '.jp-AgentPanel-empty')).toEqual([
      'No agent sessions here yet. Run a %%agent cell in a notebook of this folder.',
      'No memories here yet. %agent remember TEXT adds one.'
    ]);
    panel.dispose();
  });

  it("shows the server's refusal", async () => {
    const panel = shown(fetcher([], "'..' is outside the server's root folder; not listed"));
    await panel.refresh();
    const error = panel.node.querySelector<HTMLElement>('.jp-AgentPanel-error')!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toBe(
      "Could not read this folder's agent store: '..' is outside the server's root folder; not listed"
    );
    panel.dispose();
  });

  it('reads nothing while hidden, and reads when shown', async () => {
    const calls: string[] = [];
    const panel = new ProjectPanel(fetcher(calls));
    await panel.refresh();
    expect(calls).toEqual([]);
    Widget.attach(panel, document.body);
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(calls).toEqual(['sessions:', 'memories:']);
    panel.dispose();
  });
});

describe('ago', () => {
  it('says how long ago, then the date', () => {
    expect(ago('2025-03-01T11:59:30Z', NOW)).toBe('just now');
    expect(ago('2025-03-01T11:55:00Z', NOW)).toBe('5 min ago');
    expect(ago('2025-03-01T09:00:00Z', NOW)).toBe('3 h ago');
    expect(ago('2025-02-20T09:00:00Z', NOW)).toBe('2025-02-20');
    expect(ago(null, NOW)).toBe('');
  });
});
