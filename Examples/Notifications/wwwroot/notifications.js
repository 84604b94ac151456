// One EventSource for the user's feed and every room they joined. Events are told apart by name ("notification",
// "message"). EventSource resumes by itself with Last-Event-ID; when it gives up (a non-200 answer, readyState CLOSED)
// it is made again with backoff and told where it stopped (?lastEventId=). Joining a room re-opens it the same way.
(function () {
  const $ = (id) => document.getElementById(id);
  let source = null, lastEventId = null, retryDelay = 1000, me = null;

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    return response.json();
  }

  function add(list, text) {
    const item = document.createElement("li");
    item.textContent = text;
    $(list).appendChild(item);
  }

  function connect() {
    if (source) source.close();
    const topics = ["users/" + me.user, ...me.rooms.map((r) => "rooms/" + r)];
    const query = topics.map((t) => "topic=" + encodeURIComponent(t)).join("&")
      + (lastEventId === null ? "" : "&lastEventId=" + encodeURIComponent(lastEventId));
    const current = source = new EventSource("/events?" + query);
    current.onopen = () => { $("status").textContent = "live"; retryDelay = 1000; };
    current.onerror = () => {
      $("status").textContent = "reconnecting…";
      if (current.readyState === EventSource.CLOSED && source === current) {
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    };
    current.addEventListener("notification", (e) => {
      lastEventId = e.lastEventId;
      const { from, text } = JSON.parse(e.data);
      add("notifications", from + ": " + text);
    });
    current.addEventListener("message", (e) => {
      lastEventId = e.lastEventId;
      const { room, user, text } = JSON.parse(e.data);
      add("messages", "#" + room + " " + user + ": " + text);
    });
  }

  function show() {
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("user").textContent = me.user;
    $("rooms").textContent = me.rooms.join(", ");
    connect();
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    me = await post("/login", { user: $("name").value, password: $("password").value });
    show();
  });
  $("notify").addEventListener("submit", async (e) => {
    e.preventDefault();
    await post("/users/" + encodeURIComponent($("to").value) + "/notify", { text: $("note").value });
    $("note").value = "";
  });
  $("say").addEventListener("submit", async (e) => {
    e.preventDefault();
    await post("/rooms/" + encodeURIComponent($("room").value) + "/messages", { text: $("text").value });
    $("text").value = "";
  });
  $("join").addEventListener("submit", async (e) => {
    e.preventDefault();
    me.rooms = (await post("/rooms/" + encodeURIComponent($("newroom").value) + "/join")).rooms;
    $("rooms").textContent = me.rooms.join(", ");
    $("newroom").value = "";
    connect();
  });

  fetch("/me").then((r) => r.ok ? r.json() : null).then((who) => { if (who) { me = who; show(); } });
})();
