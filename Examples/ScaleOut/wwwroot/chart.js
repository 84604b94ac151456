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

  const source = new EventSource("/temperature-feed");
  source.onopen = () => { statusEl.textContent = "live"; };
  source.onerror = () => { statusEl.textContent = "reconnecting…"; };
  source.onmessage = (event) => {
    const { temperature } = JSON.parse(event.data);
    count += 1;
    points.push(temperature);
    if (points.length > maxPoints) points.shift();
    temperatureEl.textContent = temperature.toFixed(2);
    countEl.textContent = String(count);
    dirty = true;
  };

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
