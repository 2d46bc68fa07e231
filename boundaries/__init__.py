"""The grid registry: hierarchy, generations, buildings, service points, workers, drawing rules, storage."""
