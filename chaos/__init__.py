"""tickwire's chaos and crash suite: a seeded, bounded run of every bybit_sim fault and SIGKILLs of
every service while strategies query books and send orders; it checks every live book reply
against the simulator's stream, every order intent against the exchange and the journal, and
prints a table. Run it as ``python -m chaos`` (see docs/reliability.md)."""
