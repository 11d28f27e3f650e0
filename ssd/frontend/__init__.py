"""Audio reading and the official ASVspoof 2019 LFCC front end."""
