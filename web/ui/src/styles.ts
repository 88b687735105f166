// The cytoscape stylesheet: one rule per class the model emits (see
// model.ts). A later layer adds rules for its own classes.

import type { StylesheetJson } from 'cytoscape';

export const colours = {
  up: '#2e9d4f',
  pending: '#e6a100',
  down: '#d62728',
  error: '#a3159e',
  unknown: '#8a939c',
  selected: '#1e6fd9',
} as const;

export const graphStyle: StylesheetJson = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'font-size': 11,
      'text-wrap': 'wrap',
      'text-valign': 'bottom',
      'text-margin-y': 3,
      color: '#1d2733',
      'text-outline-color': '#f7f9fb',
      'text-outline-width': 2,
      'min-zoomed-font-size': 7,
    },
  },
  {
    selector: 'node.nve',
    style: {
      shape: 'round-rectangle',
      width: 46,
      height: 30,
      'background-color': '#e9eef5',
      'border-width': 4,
      'border-color': colours.unknown,
    },
  },
  { selector: 'node.nve.collapsed', style: { 'background-color': '#d4deea', width: 54, height: 34 } },
  { selector: 'node.kind-openflow', style: { shape: 'cut-rectangle', 'background-color': '#e3ecdf' } },
  { selector: 'node.kind-vtep', style: { shape: 'hexagon' } },
  { selector: 'node.kind-gateway', style: { shape: 'diamond', width: 40, height: 40 } },
  { selector: 'node.nve.up', style: { 'border-color': colours.up } },
  { selector: 'node.nve.pending', style: { 'border-color': colours.pending } },
  { selector: 'node.nve.down', style: { 'border-color': colours.down } },
  { selector: 'node.nve.error', style: { 'border-color': colours.error, 'border-style': 'double', 'border-width': 6 } },
  { selector: 'node.nve.unknown', style: { 'border-color': colours.unknown, 'border-style': 'dashed' } },
  {
    selector: 'node.port',
    style: {
      shape: 'ellipse',
      width: 14,
      height: 14,
      'background-color': 'data(color)',
      'border-width': 2,
      'border-color': colours.unknown,
      'font-size': 8,
      'text-margin-y': 1,
    },
  },
  { selector: 'node.port.realized', style: { 'border-color': '#ffffff' } },
  { selector: 'node.port.pending', style: { 'border-color': colours.pending, 'border-width': 3 } },
  { selector: 'node.port.down', style: { 'border-color': colours.down, 'border-width': 3 } },
  { selector: 'node.port.error', style: { 'border-color': colours.error, 'border-width': 3 } },
  {
    selector: 'node.vn',
    style: {
      shape: 'ellipse',
      width: 22,
      height: 22,
      'background-color': 'data(color)',
      'border-width': 2,
      'border-color': '#ffffff',
      'font-weight': 'bold',
      'text-valign': 'center',
      'text-halign': 'right',
      'text-margin-x': 4,
      'text-margin-y': 0,
    },
  },
  {
    selector: 'node.unclaimed',
    style: {
      shape: 'rectangle',
      width: 40,
      height: 26,
      'background-color': '#ffffff',
      'border-width': 2,
      'border-style': 'dashed',
      'border-color': colours.unknown,
      'font-size': 9,
      color: '#5f6b78',
    },
  },
  {
    selector: 'edge',
    style: { width: 1, 'line-color': '#b8c2cc', 'curve-style': 'straight' },
  },
  {
    selector: 'edge.tunnel',
    style: { width: 'data(width)', 'line-color': colours.unknown, 'z-index': 1 },
  },
  { selector: 'edge.tunnel.up', style: { 'line-color': colours.up } },
  { selector: 'edge.tunnel.down', style: { 'line-color': colours.down, 'line-style': 'dashed' } },
  { selector: 'edge.tunnel.bfd-up', style: { 'line-style': 'solid' } },
  {
    selector: 'edge.attach',
    style: { 'curve-style': 'haystack', 'haystack-radius': 0, width: 1, 'line-color': 'data(color)', opacity: 0.7 },
  },
  {
    selector: 'edge.member',
    style: { 'curve-style': 'haystack', 'haystack-radius': 0, width: 1, 'line-color': 'data(color)', opacity: 0.45 },
  },
  { selector: 'edge.highlight', style: { 'z-index': 5, opacity: 1 } },
  { selector: 'edge.attach.highlight', style: { width: 2 } },
  {
    selector: '.selected',
    style: {
      'underlay-color': colours.selected,
      'underlay-opacity': 0.3,
      'underlay-padding': 7,
      'z-index': 10,
    },
  },
  { selector: 'edge.selected', style: { width: 6 } },
  { selector: '.dimmed', style: { opacity: 0.12, 'text-opacity': 0.25 } },
  { selector: 'node:active', style: { 'overlay-opacity': 0.08 } },
];
