"""The vaxpass Chalice app: creates the app and registers blueprints. Nothing else."""
from chalice import Chalice

from chalicelib.cleaning.events import bp as cleaning_events
from chalicelib.health.routes import bp as health_routes
from chalicelib.intake.events import bp as intake_events
from chalicelib.issuance.events import bp as issuance_events
from chalicelib.intake.routes import bp as intake_routes
from chalicelib.reports.routes import bp as report_routes
from chalicelib.trust.routes import bp as trust_routes

app = Chalice(app_name="vaxpass")
app.register_blueprint(health_routes)
app.register_blueprint(intake_routes)
app.register_blueprint(trust_routes)
app.register_blueprint(report_routes)
app.register_blueprint(intake_events)
app.register_blueprint(cleaning_events)
app.register_blueprint(issuance_events)
