"""Shared test settings: figures draw off-screen."""
import matplotlib

matplotlib.use("Agg")
