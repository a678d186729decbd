"""lessonq settings, read from LESSONQ_* environment variables."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
