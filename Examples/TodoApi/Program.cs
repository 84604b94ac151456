// Bocadillo's todo API with sessions: POST /todos adds one, GET /todos lists them, GET /unseen-todos shows each visitor only
// what they have not seen yet (the last seen id lives in their signed session cookie). The app is built by TodoApp.Create(),
// so its tests build the very same app (see docs/guide/testing.md).
TodoApi.TodoApp.Create().Run();
