"""Official ASVspoof metrics: EER and t-DCF, per-attack tables, plots."""
