import { LabIcon } from '@jupyterlab/ui-components';

// A four-point spark in a rounded square: the agent. Drawn for this extension.
const AGENT_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <path class="jp-icon3" fill="#616161" d="M12 3.5l2.1 6.4 6.4 2.1-6.4 2.1-2.1 6.4-2.1-6.4-6.4-2.1 6.4-2.1z"/>
</svg>`;

export const agentIcon = new LabIcon({
  name: 'agent-kernel:agent',
  svgstr: AGENT_SVG
});
