// The dashboard's only way to the data: the public GraphQL API, over HTTP for queries and
// over a websocket (graphql-transport-ws) for subscriptions. Nothing else is read.

const ENDPOINT = new URL("graphql", document.baseURI);

export class ApiError extends Error {}

// One query; its data, or an ApiError carrying every message the API gave.
export async function query(text, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: text, variables }),
    });
  } catch (e) {
    throw new ApiError(`the API does not answer (${e.message})`);
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new ApiError(`the API answered ${response.status} without JSON`);
  }
  if (body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "));
  }
  return body.data;
}

// A subscription: onData(data) for each message, onState("live" | "reconnecting" | message)
// as the connection goes. Reconnects after a lost connection; close() ends it for good.
export function subscribe(text, variables, onData, onState = () => {}) {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let socket = null;
  let closed = false;
  let retry = null;
  const open = () => {
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init" }));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: text, variables } }));
        onState("live");
      } else if (message.type === "next") {
        if (message.payload.errors) onState(message.payload.errors.map((e) => e.message).join("; "));
        else onData(message.payload.data);
      } else if (message.type === "error") {
        onState(message.payload.map((e) => e.message).join("; "));
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = () => {
      if (closed) return;
      onState("reconnecting");
      retry = setTimeout(open, 2000);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (socket) socket.close();
    },
  };
}
