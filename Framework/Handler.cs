namespace Bocata;

/// <summary>The one inner signature: routes, routers, mounts, static files and middleware are all built from it.</summary>
public delegate Task Handler(Request req, Response res);
