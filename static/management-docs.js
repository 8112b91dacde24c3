/* Renders /management/v1/openapi.json as readable HTML. No dependencies, no network access
   beyond the document itself (the page's CSP is script-src 'self'). */
(function () {
  "use strict";

  var SPEC_URL = "/management/v1/openapi.json";
  var METHODS = ["get", "post", "put", "patch", "delete"];
  var MAX_DEPTH = 6;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function resolve(spec, node) {
    var seen = 0;
    while (node && node.$ref && seen < 20) {
      var parts = node.$ref.replace(/^#\//, "").split("/");
      node = parts.reduce(function (acc, key) {
        return acc ? acc[key.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
      }, spec);
      seen += 1;
    }
    return node || {};
  }

  function refName(node) {
    return node && node.$ref ? node.$ref.split("/").pop() : null;
  }

  function typeLabel(spec, schema) {
    var name = refName(schema);
    var resolved = resolve(spec, schema);
    var label;
    if (resolved.type === "array") {
      label = "array of " + typeLabel(spec, resolved.items || {});
    } else if (resolved.allOf || resolved.oneOf || resolved.anyOf) {
      var list = resolved.allOf || resolved.oneOf || resolved.anyOf;
      var joiner = resolved.allOf ? " & " : " | ";
      label = list.map(function (s) { return typeLabel(spec, s); }).join(joiner);
    } else {
      label = resolved.type || (resolved.properties ? "object" : "any");
      if (resolved.format) label += " (" + resolved.format + ")";
    }
    if (name) label = name + ": " + label;
    if (resolved.nullable) label += ", nullable";
    return label;
  }

  function constraints(schema) {
    var notes = [];
    if (schema.enum) notes.push("one of " + schema.enum.map(function (v) { return JSON.stringify(v); }).join(", "));
    if (schema.items && schema.items.enum) notes.push("items one of " + schema.items.enum.join(", "));
    ["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern"].forEach(function (key) {
      if (schema[key] !== undefined) notes.push(key + " " + schema[key]);
    });
    if (schema["default"] !== undefined) notes.push("default " + JSON.stringify(schema["default"]));
    if (schema.readOnly) notes.push("read-only");
    if (schema.writeOnly) notes.push("write-only");
    return notes.join("; ");
  }

  function objectOf(spec, schema) {
    var resolved = resolve(spec, schema);
    if (resolved.type === "array") return objectOf(spec, resolved.items || {});
    if (resolved.allOf) {
      var merged = { properties: {}, required: [] };
      resolved.allOf.forEach(function (part) {
        var obj = objectOf(spec, part);
        if (!obj) return;
        Object.assign(merged.properties, obj.properties || {});
        merged.required = merged.required.concat(obj.required || []);
      });
      return merged;
    }
    return resolved.properties ? resolved : null;
  }

  function renderSchema(spec, schema, depth, trail) {
    var wrapper = el("div", { "class": "schema-block" });
    var resolved = resolve(spec, schema);
    wrapper.appendChild(el("div", { "class": "schema-type", text: typeLabel(spec, schema) }));
    if (resolved.description) wrapper.appendChild(el("div", { "class": "description", text: resolved.description }));
    var obj = objectOf(spec, schema);
    var name = refName(schema) || refName(resolved.items);
    if (!obj || depth > MAX_DEPTH || (name && trail.indexOf(name) >= 0)) return wrapper;
    var nextTrail = name ? trail.concat([name]) : trail;
    var required = obj.required || [];
    var rows = Object.keys(obj.properties || {}).map(function (prop) {
      var propSchema = obj.properties[prop];
      var propResolved = resolve(spec, propSchema);
      var nameCell = el("td", {}, [el("code", { text: prop })]);
      if (required.indexOf(prop) >= 0) nameCell.appendChild(el("span", { "class": "required", text: "required" }));
      var detail = el("td", {}, [
        propResolved.description ? el("div", { text: propResolved.description }) : null,
        constraints(propResolved) ? el("div", { "class": "muted", text: constraints(propResolved) }) : null,
      ]);
      if (objectOf(spec, propSchema)) detail.appendChild(renderSchema(spec, propSchema, depth + 1, nextTrail));
      return el("tr", {}, [nameCell, el("td", { "class": "schema-type", text: typeLabel(spec, propSchema) }), detail]);
    });
    if (rows.length) {
      wrapper.appendChild(el("table", {}, [
        el("thead", {}, [el("tr", {}, [el("th", { text: "Field" }), el("th", { text: "Type" }), el("th", { text: "Notes" })])]),
        el("tbody", {}, rows),
      ]));
    }
    return wrapper;
  }

  function renderParameters(spec, parameters) {
    if (!parameters.length) return null;
    var rows = parameters.map(function (param) {
      param = resolve(spec, param);
      var schema = param.schema || {};
      var nameCell = el("td", {}, [el("code", { text: param.name })]);
      if (param.required) nameCell.appendChild(el("span", { "class": "required", text: "required" }));
      return el("tr", {}, [
        nameCell,
        el("td", { text: param["in"] }),
        el("td", { "class": "schema-type", text: typeLabel(spec, schema) }),
        el("td", {}, [
          param.description ? el("div", { text: param.description }) : null,
          constraints(resolve(spec, schema)) ? el("div", { "class": "muted", text: constraints(resolve(spec, schema)) }) : null,
        ]),
      ]);
    });
    return el("div", {}, [
      el("h4", { text: "Parameters" }),
      el("table", {}, [
        el("thead", {}, [el("tr", {}, ["Name", "In", "Type", "Notes"].map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, rows),
      ]),
    ]);
  }

  function renderContent(spec, content) {
    var parts = [];
    Object.keys(content || {}).forEach(function (mediaType) {
      parts.push(el("div", { "class": "muted", text: mediaType }));
      var schema = content[mediaType].schema;
      if (schema) parts.push(renderSchema(spec, schema, 0, []));
    });
    return parts;
  }

  function renderOperation(spec, path, method, op, pathParams) {
    var id = "op-" + method + "-" + path.replace(/[^A-Za-z0-9]+/g, "-");
    var section = el("section", { "class": "operation", id: id });
    section.appendChild(el("h3", {}, [
      el("span", { "class": "method method-" + method, text: method }),
      el("span", { "class": "path", text: path }),
      op.summary ? el("span", { "class": "summary", text: op.summary }) : null,
    ]));
    if (op.description) section.appendChild(el("p", { "class": "description", text: op.description }));
    if (op.security) {
      var schemes = op.security.map(function (s) { return Object.keys(s).join(" + "); }).filter(Boolean);
      if (schemes.length) section.appendChild(el("p", { "class": "muted", text: "Security: " + schemes.join(" or ") }));
    }
    var merged = {};
    (pathParams || []).concat(op.parameters || []).forEach(function (param) {
      var resolved = resolve(spec, param);
      merged[resolved["in"] + ":" + resolved.name] = param;
    });
    var params = renderParameters(spec, Object.keys(merged).map(function (k) { return merged[k]; }));
    if (params) section.appendChild(params);
    if (op.requestBody) {
      var body = resolve(spec, op.requestBody);
      section.appendChild(el("h4", { text: "Request body" + (body.required ? " (required)" : "") }));
      renderContent(spec, body.content).forEach(function (n) { section.appendChild(n); });
    }
    var responses = op.responses || {};
    var codes = Object.keys(responses);
    if (codes.length) {
      section.appendChild(el("h4", { text: "Responses" }));
      codes.forEach(function (code) {
        var response = resolve(spec, responses[code]);
        section.appendChild(el("div", {}, [
          el("span", { "class": "response-code", text: code + " " }),
          el("span", { text: response.description || "" }),
        ]));
        renderContent(spec, response.content).forEach(function (n) { section.appendChild(n); });
      });
    }
    return { node: section, id: id };
  }

  function render(spec) {
    var main = document.getElementById("docs-main");
    var nav = document.getElementById("docs-nav");
    var info = spec.info || {};
    document.getElementById("docs-title").textContent = (info.title || "API") + " " + (info.version || "");
    document.title = (info.title || "API") + " reference";
    main.textContent = "";
    var tagOrder = (spec.tags || []).map(function (t) { return t.name; });
    var tagInfo = {};
    (spec.tags || []).forEach(function (t) { tagInfo[t.name] = t; });
    var groups = {};
    Object.keys(spec.paths || {}).sort().forEach(function (path) {
      var item = spec.paths[path];
      METHODS.forEach(function (method) {
        if (!item[method]) return;
        var tag = (item[method].tags || ["other"])[0];
        if (tagOrder.indexOf(tag) < 0) tagOrder.push(tag);
        (groups[tag] = groups[tag] || []).push([path, method, item[method], item.parameters]);
      });
    });
    var count = 0;
    tagOrder.forEach(function (tag) {
      var ops = groups[tag];
      if (!ops) return;
      var section = el("section", { "class": "tag-section", id: "tag-" + tag.replace(/[^A-Za-z0-9]+/g, "-") });
      section.appendChild(el("h2", { text: tag }));
      if (tagInfo[tag] && tagInfo[tag].description) section.appendChild(el("p", { "class": "description", text: tagInfo[tag].description }));
      var list = el("ul");
      ops.forEach(function (entry) {
        var rendered = renderOperation(spec, entry[0], entry[1], entry[2], entry[3]);
        section.appendChild(rendered.node);
        list.appendChild(el("li", {}, [el("a", { href: "#" + rendered.id }, [
          el("span", { "class": "method method-" + entry[1], text: entry[1] }), " " + entry[0],
        ])]));
        count += 1;
      });
      main.appendChild(section);
      nav.appendChild(el("h2", { text: tag }));
      nav.appendChild(list);
    });
    main.setAttribute("data-operations", String(count));
  }

  function fail(message) {
    var status = document.getElementById("docs-status");
    if (status) {
      status.className = "error";
      status.textContent = "Could not load the API description: " + message;
    }
  }

  function load() {
    fetch(SPEC_URL, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(render)
      .catch(function (error) { fail(error.message || String(error)); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
