// Bocata's /docs page: renders an OpenAPI 3.2 document and lets the reader call the API ("try it").
// Inputs: <meta name="openapi-document" content="/openapi.json"> (the document's path, same origin).
// Renders: operations grouped by tag (method, path, summary, description, parameters, request body, responses, security),
// components.schemas with $ref links, and the events of a text/event-stream response from its itemSchema (3.2).
// Guarantees: text from the document is only ever set as textContent (never parsed as HTML); every request goes to the
// page's own origin (the page's CSP, connect-src 'self', enforces it); no inline script or style; no build step.
(() => {
  'use strict';

  const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'query'];
  let doc = {};

  // ---- DOM helpers -------------------------------------------------------------------------------------------------

  /** Creates an element; props set attributes (class, id, data-*) or listeners (on*); children are nodes or text. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const text = (value) => (value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value));
  const description = (value) => (value ? h('p', { class: 'description' }, value) : null);
  const anchor = (method, path) => `op-${method}-${path}`.replace(/[^A-Za-z0-9_-]+/g, '-');

  // ---- References and schemas --------------------------------------------------------------------------------------

  /** The object a local reference ('#/components/schemas/Item') points to, or undefined. */
  function lookup(ref) {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return undefined;
    let node = doc;
    for (const part of ref.slice(2).split('/')) {
      if (node === undefined || node === null) return undefined;
      node = node[decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    return node;
  }

  /** Follows $ref chains (parameters, responses, schemas); a cycle or a missing target stops at the last object. */
  function deref(node) {
    const seen = new Set();
    while (node && typeof node === 'object' && typeof node.$ref === 'string' && !seen.has(node.$ref)) {
      seen.add(node.$ref);
      const target = lookup(node.$ref);
      if (target === undefined) break;
      node = target;
    }
    return node;
  }

  const refName = (ref) => ref.split('/').pop();

  /** A one-line type: "integer (int32)", "string | null", "array of Item". */
  function typeLabel(schema) {
    if (schema === true || schema === undefined) return 'any';
    if (schema === false) return 'nothing';
    if (schema.$ref) return refName(schema.$ref);
    let type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
    if (!type && schema.properties) type = 'object';
    if (!type && (schema.oneOf || schema.anyOf)) type = schema.oneOf ? 'one of' : 'any of';
    if (!type && schema.allOf) type = 'all of';
    if (type === 'array' && schema.items) type = `array of ${typeLabel(schema.items)}`;
    if (schema.format) type = `${type || 'any'} (${schema.format})`;
    return type || (schema.const !== undefined ? 'const' : schema.enum ? 'enum' : 'any');
  }

  const CONSTRAINTS = ['minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'pattern',
    'minItems', 'maxItems', 'default', 'const', 'contentMediaType'];

  function constraints(schema) {
    if (!schema || typeof schema !== 'object') return [];
    const parts = CONSTRAINTS.filter((k) => schema[k] !== undefined).map((k) => `${k}: ${text(schema[k])}`);
    if (schema.enum) parts.push(`enum: ${schema.enum.map(text).join(', ')}`);
    if (schema.deprecated) parts.push('deprecated');
    return parts.map((p) => h('span', { class: 'constraint' }, p));
  }

  /** A schema as a tree: a $ref is a link to components.schemas that expands on demand (so cycles cost nothing); `open`
   * expands it at once (the top level of a body or an event's data). */
  function schemaView(schema, depth = 0, open = false) {
    if (schema && schema.$ref) {
      const name = refName(schema.$ref);
      const details = h('details', { class: 'ref' }, h('summary', {}, h('a', { href: `#schema-${name}` }, name)));
      const expand = () => {
        if (details.open && details.childElementCount === 1) details.append(schemaView(deref(schema), depth + 1));
      };
      details.addEventListener('toggle', expand);
      if (open) {
        details.open = true;
        expand();
      }
      return h('div', { class: 'schema' }, details);
    }
    const box = h('div', { class: 'schema' });
    if (!schema || typeof schema !== 'object') {
      box.append(h('span', { class: 'type' }, typeLabel(schema)));
      return box;
    }
    if (schema.description && depth > 0) box.append(description(schema.description));
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    if (Object.keys(props).length > 0) {
      box.append(h('ul', {}, Object.entries(props).map(([name, prop]) => h('li', {},
        h('span', { class: 'prop-name' }, name),
        required.has(name) ? h('span', { class: 'required', title: 'required' }, '*') : null, ' ',
        h('span', { class: 'type' }, typeLabel(prop)), constraints(deref(prop)),
        prop && prop.description ? h('div', { class: 'description' }, prop.description) : null,
        nested(prop, depth)))));
    } else {
      box.append(h('span', { class: 'type' }, typeLabel(schema)), constraints(schema));
      const inner = nested(schema, depth);
      if (inner) box.append(inner);
    }
    return box;
  }

  /** What a property or item needs below its one-line type: its fields, its items, its variants. */
  function nested(schema, depth) {
    if (!schema || typeof schema !== 'object' || depth > 8) return null;
    if (schema.$ref) return schemaView(schema, depth + 1);
    for (const key of ['oneOf', 'anyOf', 'allOf']) {
      if (Array.isArray(schema[key])) return h('div', {}, h('em', {}, `${key}:`), schema[key].map((s) => schemaView(s, depth + 1)));
    }
    if (schema.items && typeof schema.items === 'object') return h('div', {}, h('em', {}, 'items:'), schemaView(schema.items, depth + 1));
    if (schema.properties) return schemaView({ properties: schema.properties, required: schema.required }, depth + 1);
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      return h('div', {}, h('em', {}, 'values:'), schemaView(schema.additionalProperties, depth + 1));
    }
    return null;
  }

  /** A plausible JSON value for a schema, to prefill "try it" bodies. */
  function example(schema, depth = 0) {
    schema = deref(schema);
    if (!schema || typeof schema !== 'object' || depth > 6) return null;
    if (schema.example !== undefined) return schema.example;
    if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if (schema.default !== undefined) return schema.default;
    if (schema.const !== undefined) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    const variants = schema.oneOf || schema.anyOf;
    if (variants && variants.length) return example(variants[0], depth + 1);
    if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s) => example(s, depth + 1)));
    const types = Array.isArray(schema.type) ? schema.type.filter((t) => t !== 'null') : [schema.type];
    const type = types[0] || (schema.properties ? 'object' : undefined);
    switch (type) {
      case 'object': {
        const value = {};
        for (const [name, prop] of Object.entries(schema.properties || {})) value[name] = example(prop, depth + 1);
        return value;
      }
      case 'array': return schema.items ? [example(schema.items, depth + 1)] : [];
      case 'integer': case 'number': return schema.minimum !== undefined ? schema.minimum : 0;
      case 'boolean': return false;
      case 'string':
        if (schema.format === 'date-time') return new Date().toISOString();
        if (schema.format === 'uuid') return '00000000-0000-0000-0000-000000000000';
        return 'string';
      default: return null;
    }
  }

  // ---- Event streams (OpenAPI 3.2 itemSchema) ------------------------------------------------------------------------

  const isEventStream = (mediaType) => mediaType.split(';')[0].trim().toLowerCase() === 'text/event-stream';

  /** The event types an itemSchema describes: [{ name, schema }]. Reads the shapes 3.2 allows: an `event` enum paired with
   * `data`'s oneOf (one entry each, in order), an `event` const per oneOf variant of the item, or no name ("message"). */
  function eventTypes(itemSchema) {
    const item = deref(itemSchema);
    if (!item || typeof item !== 'object') return [];
    const variants = item.oneOf || item.anyOf;
    if (Array.isArray(variants) && !item.properties) return variants.flatMap(eventTypes);
    const props = item.properties || {};
    const event = deref(props.event) || {};
    const data = deref(props.data) || {};
    const payload = data.contentSchema ? deref(data.contentSchema) : data;
    const names = event.const !== undefined ? [event.const] : Array.isArray(event.enum) ? event.enum : [];
    const dataVariants = payload && (payload.oneOf || payload.anyOf);
    const dataOf = (i) => (Array.isArray(dataVariants) && dataVariants.length === names.length ? dataVariants[i] : (data.contentSchema || props.data));
    if (names.length === 0) return [{ name: 'message', schema: data.contentSchema || props.data }];
    return names.map((name, i) => ({ name: String(name), schema: dataOf(i) }));
  }

  function eventsView(itemSchema) {
    const types = eventTypes(itemSchema);
    return h('div', { class: 'events' },
      h('h4', {}, 'Events'),
      h('table', {}, h('tr', {}, h('th', {}, 'event'), h('th', {}, 'data')),
        types.map((t) => h('tr', { class: 'event-type' },
          h('td', {}, h('code', { class: 'event-name' }, t.name)),
          h('td', {}, t.schema ? schemaView(t.schema, 0, true) : h('span', { class: 'type' }, 'string'))))),
      h('details', {}, h('summary', {}, 'Item schema (data, event, id, retry)'), schemaView(itemSchema)));
  }

  // ---- Operations --------------------------------------------------------------------------------------------------

  function operationsByTag() {
    const groups = new Map((doc.tags || []).map((t) => [t.name, { tag: t, operations: [] }]));
    for (const [path, rawItem] of Object.entries(doc.paths || {})) {
      const item = deref(rawItem) || {};
      const entries = METHODS.filter((m) => item[m]).map((m) => [m, item[m]]);
      for (const [m, op] of Object.entries(item.additionalOperations || {})) entries.push([m.toLowerCase(), op]);
      for (const [method, op] of entries) {
        const parameters = [...(item.parameters || []), ...(op.parameters || [])].map(deref);
        const tags = op.tags && op.tags.length ? op.tags : ['default'];
        for (const tag of tags) {
          if (!groups.has(tag)) groups.set(tag, { tag: { name: tag }, operations: [] });
          groups.get(tag).operations.push({ method, path, op, parameters });
        }
      }
    }
    return [...groups.values()].filter((g) => g.operations.length > 0);
  }

  function parametersView(parameters) {
    if (!parameters.length) return null;
    return h('div', {}, h('h3', {}, 'Parameters'), h('table', {},
      h('tr', {}, h('th', {}, 'name'), h('th', {}, 'in'), h('th', {}, 'type'), h('th', {}, 'description')),
      parameters.map((p) => h('tr', { class: 'parameter' },
        h('td', {}, h('span', { class: 'prop-name' }, p.name), p.required ? h('span', { class: 'required', title: 'required' }, '*') : null),
        h('td', {}, p.in),
        h('td', {}, h('span', { class: 'type' }, typeLabel(p.schema)), constraints(deref(p.schema))),
        h('td', {}, p.description || '')))));
  }

  function contentView(content) {
    return Object.entries(content || {}).map(([mediaType, media]) => h('div', { class: 'media' },
      h('h4', {}, h('code', {}, mediaType)),
      isEventStream(mediaType) && media.itemSchema ? eventsView(media.itemSchema)
        : media.itemSchema ? h('div', {}, h('em', {}, 'each item:'), schemaView(media.itemSchema))
          : media.schema ? schemaView(media.schema, 0, true) : null));
  }

  function responsesView(responses) {
    return h('div', {}, h('h3', {}, 'Responses'), Object.entries(responses || {}).map(([status, raw]) => {
      const response = deref(raw) || {};
      return h('div', { class: 'response', 'data-status': status },
        h('h4', {}, h('code', {}, status), ' ', response.description || ''),
        contentView(response.content));
    }));
  }

  function securityView(op) {
    const requirements = op.security || doc.security;
    if (!requirements || !requirements.length) return null;
    const schemes = (doc.components && doc.components.securitySchemes) || {};
    const describe = (name) => {
      const s = deref(schemes[name]) || {};
      return [s.type, s.scheme, s.bearerFormat, s.in && `in ${s.in}`, s.name].filter(Boolean).join(' ');
    };
    return h('div', {}, h('h3', {}, 'Security'), h('ul', { class: 'security' }, requirements.map((req) => {
      const names = Object.keys(req);
      return h('li', {}, names.length ? names.map((n) => h('span', {}, h('code', {}, n), ` (${describe(n)}) `)) : 'none (anonymous allowed)');
    })));
  }

  function operationView({ method, path, op, parameters }) {
    const body = h('div', { class: 'body' },
      description(op.description),
      op.deprecated ? h('p', { class: 'error' }, 'Deprecated.') : null,
      parametersView(parameters),
      op.requestBody ? h('div', {}, h('h3', {}, 'Request body', deref(op.requestBody).required ? ' (required)' : ''),
        contentView(deref(op.requestBody).content)) : null,
      responsesView(op.responses),
      securityView(op),
      tryIt(method, path, op, parameters));
    return h('details', { class: 'operation', id: anchor(method, path), 'data-method': method, 'data-path': path },
      h('summary', {},
        h('span', { class: `method ${method}` }, method),
        h('span', { class: 'path' }, path),
        h('span', { class: 'summary' }, op.summary || ''),
        streamsEvents(op) ? h('span', { class: 'badge' }, 'event stream') : null),
      body);
  }

  function streamsEvents(op) {
    return Object.values(op.responses || {}).some((r) => Object.keys((deref(r) || {}).content || {}).some(isEventStream));
  }

  // ---- Try it ------------------------------------------------------------------------------------------------------

  /** The server prefix: a relative servers[0].url ("/api"), or this origin's path of an absolute one; never another origin. */
  function base() {
    const url = doc.servers && doc.servers[0] && doc.servers[0].url;
    if (!url) return '';
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.origin === window.location.origin ? parsed.pathname.replace(/\/$/, '') : '';
    } catch {
      return '';
    }
  }

  function tryIt(method, path, op, parameters) {
    const inputs = parameters.filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'header').map((p) => {
      const schema = deref(p.schema) || {};
      const input = h('input', { name: p.name, 'data-in': p.in, placeholder: typeLabel(p.schema), value: schema.default });
      return { parameter: p, input, label: h('label', {}, h('span', {}, `${p.name}${p.required ? ' *' : ''} (${p.in})`), input) };
    });
    const requestBody = deref(op.requestBody);
    const jsonType = requestBody && Object.keys(requestBody.content || {}).find((t) => t.includes('json'));
    const bodyInput = jsonType ? h('textarea', { class: 'request-body', spellcheck: 'false' }) : null;
    if (bodyInput) bodyInput.value = JSON.stringify(example(requestBody.content[jsonType].schema), null, 2);
    const bearer = needsBearer(op) ? h('input', { name: 'bearer', placeholder: 'token' }) : null;
    const result = h('div', { class: 'result' });
    const stream = method === 'get' && streamsEvents(op);

    const url = () => {
      let target = base() + path;
      const query = new URLSearchParams();
      for (const { parameter, input } of inputs) {
        const value = input.value;
        if (parameter.required && value === '') throw new Error(`Fill in ${parameter.name} (${parameter.in}).`);
        if (parameter.in === 'path') target = target.split(`{${parameter.name}}`).join(encodeURIComponent(value));
        else if (parameter.in === 'query' && value !== '') query.append(parameter.name, value);
      }
      const q = query.toString();
      return q ? `${target}?${q}` : target;
    };

    const send = async () => {
      result.replaceChildren(h('p', { class: 'response-status' }, 'Sending…'));
      try {
        const headers = { Accept: 'application/json, */*' };
        for (const { parameter, input } of inputs) if (parameter.in === 'header' && input.value) headers[parameter.name] = input.value;
        if (bearer && bearer.value) headers.Authorization = `Bearer ${bearer.value}`;
        const init = { method: method.toUpperCase(), headers };
        if (bodyInput) {
          headers['Content-Type'] = jsonType;
          init.body = bodyInput.value;
        }
        const target = url();
        const response = await fetch(target, init);
        const raw = await response.text();
        let shown = raw;
        try { shown = JSON.stringify(JSON.parse(raw), null, 2); } catch { /* not JSON: shown as it came */ }
        result.replaceChildren(
          h('p', {}, h('span', { class: 'response-status' }, `${response.status}`), ' ', response.statusText, ' ', h('code', {}, `${init.method} ${target}`)),
          h('h4', {}, 'Headers'), h('pre', { class: 'response-headers' }, [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')),
          h('h4', {}, 'Body'), h('pre', { class: 'response-body' }, shown));
      } catch (error) {
        result.replaceChildren(h('p', { class: 'error response-status' }, error.message));
      }
    };

    let source = null;
    const stop = h('button', { type: 'button', class: 'secondary stop', disabled: true, onclick: () => close('stopped') });
    stop.textContent = 'Stop';
    const close = (why) => {
      if (source) source.close();
      source = null;
      stop.disabled = true;
      const state = result.querySelector('.stream-state');
      if (state) state.textContent = why;
    };
    // EventSource delivers a named event only to a listener of that name: listen to each name the itemSchema lists.
    const open = () => {
      close('closed');
      let target;
      try { target = url(); } catch (error) { result.replaceChildren(h('p', { class: 'error' }, error.message)); return; }
      const list = h('ol', { class: 'live-events' });
      result.replaceChildren(h('p', {}, h('code', {}, `GET ${target}`), ' ', h('span', { class: 'stream-state' }, 'connecting')), list);
      source = new EventSource(target);
      stop.disabled = false;
      const names = new Set(['message']);
      for (const [, raw] of Object.entries(op.responses || {})) {
        for (const [type, media] of Object.entries((deref(raw) || {}).content || {})) {
          if (isEventStream(type) && media.itemSchema) eventTypes(media.itemSchema).forEach((t) => names.add(t.name));
        }
      }
      const show = (e) => list.append(h('li', { class: 'live-event', 'data-event': e.type },
        h('span', { class: 'event-name' }, e.type), e.lastEventId ? ` #${e.lastEventId} ` : ' ', e.data));
      names.forEach((n) => source.addEventListener(n, show));
      source.onopen = () => { const s = result.querySelector('.stream-state'); if (s) s.textContent = 'live'; };
      source.onerror = () => { const s = result.querySelector('.stream-state'); if (s) s.textContent = source && source.readyState === EventSource.CONNECTING ? 'reconnecting' : 'closed'; };
    };

    const button = h('button', { type: 'button', class: 'send', onclick: stream ? open : send });
    button.textContent = stream ? 'Open stream' : 'Send';
    return h('div', { class: 'try' },
      h('h3', {}, 'Try it'),
      inputs.map((i) => i.label),
      bearer ? h('label', {}, h('span', {}, 'Bearer token'), bearer) : null,
      bodyInput ? h('label', {}, h('span', {}, `Body (${jsonType})`), bodyInput) : null,
      h('p', {}, button, stream ? stop : null),
      result);
  }

  function needsBearer(op) {
    const schemes = (doc.components && doc.components.securitySchemes) || {};
    return (op.security || doc.security || []).some((req) => Object.keys(req).some((n) => {
      const s = deref(schemes[n]) || {};
      return s.type === 'http' && String(s.scheme).toLowerCase() === 'bearer';
    }));
  }

  // ---- Page --------------------------------------------------------------------------------------------------------

  function render() {
    const info = doc.info || {};
    document.title = info.title || document.title;
    document.getElementById('title').textContent = info.title || 'API';
    const subtitle = document.getElementById('subtitle');
    subtitle.prepend(h('span', { class: 'badge' }, `version ${info.version || '?'}`), ' ', h('span', { class: 'badge' }, `OpenAPI ${doc.openapi || '?'}`), ' ');

    const content = document.getElementById('content');
    const nav = document.getElementById('nav');
    content.replaceChildren(description(info.description));
    for (const { tag, operations } of operationsByTag()) {
      nav.append(h('h2', {}, tag.name), ...operations.map((o) => h('a', { href: `#${anchor(o.method, o.path)}` }, `${o.method.toUpperCase()} ${o.path}`)));
      content.append(h('section', { class: 'tag', id: `tag-${tag.name}` }, h('h2', {}, tag.name), description(tag.description), operations.map(operationView)));
    }

    const schemas = (doc.components && doc.components.schemas) || {};
    if (Object.keys(schemas).length) {
      nav.append(h('h2', {}, 'Schemas'), ...Object.keys(schemas).map((n) => h('a', { href: `#schema-${n}` }, n)));
      content.append(h('section', { class: 'schemas' }, h('h2', {}, 'Schemas'), Object.entries(schemas).map(([name, schema]) =>
        h('div', { class: 'component-schema', id: `schema-${name}` }, h('h3', {}, name), description(schema && schema.description), schemaView(schema)))));
    }
    // A link to an operation opens it.
    const opened = () => {
      const target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
      if (target && target.tagName === 'DETAILS') target.open = true;
    };
    window.addEventListener('hashchange', opened);
    opened();
    document.body.setAttribute('data-rendered', 'true');
  }

  async function main() {
    const meta = document.querySelector('meta[name="openapi-document"]');
    const status = document.getElementById('status');
    const url = meta ? meta.content : '/openapi.json';
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' } });
      if (!response.ok) throw new Error(`${url} answered ${response.status} ${response.statusText}`);
      doc = await response.json();
    } catch (error) {
      status.textContent = `Could not load the API description: ${error.message}`;
      status.className = 'error';
      return;
    }
    render();
  }

  main();
})();
