// Bocadillo's tutorial chatbot: talk to Diego over a WebSocket at /conversation; /client-count says how many are talking.
Chatbot.ChatbotApp.Create().Run();
