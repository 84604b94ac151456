// PORT from the environment wins; otherwise 8000. HOST works the same way (default 127.0.0.1).
var port = int.TryParse(Environment.GetEnvironmentVariable("PORT"), out var fromEnvironment) ? fromEnvironment : 8000;
BocataApp.AppFactory.Create().Run(port: port);
