"""Pure executor logic: intents, validation, risk, signing, rate limits, requests, responses, lifecycle."""
