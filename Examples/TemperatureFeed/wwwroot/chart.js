// Reads /temperature-feed with EventSource and draws the last readings on a canvas. Plain JavaScript, no dependencies.
(function () {
  const points = [];
  const maxPoints = 300;
  let count = 0;
  let dirty = false;
  const temperatureEl = document.getElementById("temperature");
  const countEl = document.getElementById("count");
  const statusEl = document.getElementById("status");
  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");

  // EventSource reconnects by itself after a dropped connection, but gives up for good (readyState CLOSED) on a
  // non-200 answer, e.g. a 502 from a proxy while every instance restarts. Then a new one is made, with backoff, and
  // told where it stopped (?lastEventId=, which the hub reads when there is no Last-Event-ID header).
  let lastEventId = null;
  let retryDelay = 1000;
  function connect() {
    const url = lastEventId === null ? "/temperature-feed" : "/temperature-feed?lastEventId=" + encodeURIComponent(lastEventId);
    const source = new EventSource(url);
    source.onopen = () => { statusEl.textContent = "live"; retryDelay = 1000; };
    source.onerror = () => {
      statusEl.textContent = "reconnecting…";
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    };
    source.onmessage = onReading;
  }
  connect();

  function onReading(event) {
    if (event.lastEventId) lastEventId = event.lastEventId;
    const { temperature } = JSON.parse(event.data);
    count += 1;
    points.push(temperature);
    if (points.length > maxPoints) points.shift();
    temperatureEl.textContent = temperature.toFixed(2);
    countEl.textContent = String(count);
    dirty = true;
  }

  function draw() {
    if (dirty) {
      dirty = false;
      const { width, height } = canvas;
      const min = 7, max = 13;
      const y = (t) => height - ((t - min) / (max - min)) * height;
      ctx.clearRect(0, 0, width, height);
      ctx.strokeStyle = "#e5e5e5";
      ctx.fillStyle = "#999";
      ctx.font = "12px sans-serif";
      for (let t = min; t <= max; t += 1) {
        ctx.beginPath(); ctx.moveTo(0, y(t)); ctx.lineTo(width, y(t)); ctx.stroke();
        ctx.fillText(t + " °C", 4, y(t) - 2);
      }
      ctx.strokeStyle = "#d9480f";
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach((t, i) => {
        const x = (i / (maxPoints - 1)) * width;
        if (i === 0) ctx.moveTo(x, y(t)); else ctx.lineTo(x, y(t));
      });
      ctx.stroke();
    }
    requestAnimationFrame(draw);
  }
  requestAnimationFrame(draw);
})();
