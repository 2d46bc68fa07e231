"""Coverage of service points: who is served, who is not, and where the next point would serve the most."""
