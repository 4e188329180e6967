/**
 * The MIME renderer for saved agent traces: what a notebook shows for a run's trace, with or
 * without a kernel.
 */

import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { getHighlighter } from './highlight';
import { ITraceDocument, MIME_TYPE } from './traceDocument';
import { TraceView } from './traceView';

export class TraceRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-RenderedAgentTrace');
    this.node.appendChild(this._view.node);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this._mimeType] as unknown as ITraceDocument | undefined;
    if (!data || typeof data !== 'object') {
      this._view.node.textContent = 'This agent trace is empty or unreadable.';
      return Promise.resolve();
    }
    this._view.render(data);
    return Promise.resolve();
  }

  private _mimeType: string;
  private _view = new TraceView(getHighlighter);
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  // Safe: the renderer writes text only, so it also renders untrusted (reopened) notebooks.
  safe: true,
  mimeTypes: [MIME_TYPE],
  createRenderer: options => new TraceRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: 'agent-kernel:trace-renderer',
  description: 'Renders the agent trace saved with each %%agent run.',
  rendererFactory,
  // Ahead of text/html (rank 50), the fallback the same bundle carries for other front ends.
  rank: 0,
  dataType: 'json'
};

export default extension;
