"""Model loaders. Heavy libraries are imported inside functions, never at package import."""
