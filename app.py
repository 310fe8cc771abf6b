"""The vaxpass Chalice app: creates the app and registers blueprints. Nothing else."""
from chalice import Chalice

from chalicelib.health.routes import bp as health_routes
from chalicelib.platform.http import error_middleware

app = Chalice(app_name="vaxpass")
app.register_middleware(error_middleware, "http")
app.register_blueprint(health_routes)
